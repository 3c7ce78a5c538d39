"""Data layer: readers of the original formats, dataset objects, the scan cache and voxelization.

Import the module you need; importing this package loads nothing (no pandas, no torch):

* ``scan``           the ``Scan`` record every reader returns
* ``s3dis``          ``read_room`` (Stanford3dDataset_v1.2_Aligned_Version), ``S3DIS_CLASSES``
* ``semantic_kitti`` ``read_scan`` (velodyne .bin + .label), ``load_label_config``
* ``datasets``       ``build_dataset(name, root, split, cache_dir=None)``, ``DATASETS``
* ``cache``          ``ScanCache``, ``content_key``
* ``voxelize``       ``voxelize``, ``input_features``, ``collate``
* ``prepare``        ``prepare`` / ``cli_prepare`` (``redal prepare``)
* ``synthetic``      ``write_synthetic_indoor`` / ``write_synthetic_outdoor`` (a package: see its docstring)
"""
