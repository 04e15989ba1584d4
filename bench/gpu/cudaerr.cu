// Diagnostic twin of cudacheck: prints CUDA's own error strings for each step.
#include <cstdio>

__global__ void twice(int *x) { x[threadIdx.x] = 2 * threadIdx.x; }

int main() {
  int n = -1, *d = nullptr, h[64];
  cudaError_t e = cudaGetDeviceCount(&n);
  std::printf("cudaGetDeviceCount: %s (%d devices)\n", cudaGetErrorString(e), n);
  e = cudaMalloc(&d, sizeof h);
  std::printf("cudaMalloc: %s\n", cudaGetErrorString(e));
  if (e != cudaSuccess) return 1;
  twice<<<1, 64>>>(d);
  e = cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
  std::printf("kernel + cudaMemcpy: %s, h[63]=%d\n", cudaGetErrorString(e), h[63]);
  return e == cudaSuccess && h[63] == 126 ? 0 : 1;
}
