// PCL supervoxel harness for benchmarks/vccs.py.
//
// usage: pcl_vccs POINTS.bin LABELS_OUT.bin VOXEL SEED COLOR SPATIAL NORMAL REPEATS
//   POINTS.bin : int64 n, then n rows of float32 (x, y, z, r, g, b) with r, g, b in 0..255
//   LABELS_OUT : n uint32 per-point supervoxel labels of the last run (0 = left unlabeled by PCL)
// Prints one line per run: "extract_s <seconds> supervoxels <count>". Only extract() is timed.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <vector>

#include <pcl/point_cloud.h>
#include <pcl/point_types.h>
#include <pcl/segmentation/supervoxel_clustering.h>

using PointT = pcl::PointXYZRGBA;

static pcl::PointCloud<PointT>::Ptr read_points(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "cannot open " << path << "\n";
    std::exit(2);
  }
  std::int64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), sizeof(n));
  std::vector<float> rows(static_cast<std::size_t>(n) * 6);
  in.read(reinterpret_cast<char*>(rows.data()), static_cast<std::streamsize>(rows.size() * sizeof(float)));
  if (!in) {
    std::cerr << "short read from " << path << "\n";
    std::exit(2);
  }
  pcl::PointCloud<PointT>::Ptr cloud(new pcl::PointCloud<PointT>);
  cloud->resize(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const float* row = &rows[static_cast<std::size_t>(i) * 6];
    PointT& p = (*cloud)[static_cast<std::size_t>(i)];
    p.x = row[0];
    p.y = row[1];
    p.z = row[2];
    p.r = static_cast<std::uint8_t>(row[3]);
    p.g = static_cast<std::uint8_t>(row[4]);
    p.b = static_cast<std::uint8_t>(row[5]);
    p.a = 255;
  }
  return cloud;
}

int main(int argc, char** argv) {
  if (argc != 9) {
    std::cerr << "usage: pcl_vccs POINTS.bin LABELS_OUT.bin VOXEL SEED COLOR SPATIAL NORMAL REPEATS\n";
    return 2;
  }
  const auto cloud = read_points(argv[1]);
  const float voxel = std::strtof(argv[3], nullptr);
  const float seed = std::strtof(argv[4], nullptr);
  const float color = std::strtof(argv[5], nullptr);
  const float spatial = std::strtof(argv[6], nullptr);
  const float normal = std::strtof(argv[7], nullptr);
  const int repeats = std::atoi(argv[8]);

  pcl::PointCloud<pcl::PointXYZL>::Ptr labeled;
  for (int run = 0; run < repeats; ++run) {
    pcl::SupervoxelClustering<PointT> clustering(voxel, seed);
    clustering.setUseSingleCameraTransform(false);
    clustering.setInputCloud(cloud);
    clustering.setColorImportance(color);
    clustering.setSpatialImportance(spatial);
    clustering.setNormalImportance(normal);
    std::map<std::uint32_t, pcl::Supervoxel<PointT>::Ptr> clusters;
    const auto start = std::chrono::steady_clock::now();
    clustering.extract(clusters);
    const auto stop = std::chrono::steady_clock::now();
    std::printf("extract_s %.6f supervoxels %zu\n", std::chrono::duration<double>(stop - start).count(),
                clusters.size());
    std::fflush(stdout);
    if (run == repeats - 1) labeled = clustering.getLabeledCloud();
  }
  std::vector<std::uint32_t> labels(labeled->size());
  for (std::size_t i = 0; i < labeled->size(); ++i) labels[i] = (*labeled)[i].label;
  std::ofstream out(argv[2], std::ios::binary);
  out.write(reinterpret_cast<const char*>(labels.data()),
            static_cast<std::streamsize>(labels.size() * sizeof(std::uint32_t)));
  return out ? 0 : 3;
}
