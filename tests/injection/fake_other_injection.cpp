// Another tool's CUDA injection library, standing for nsys's libToolsInjection64.so in tests: it
// holds the CUDA_INJECTION64_PATH slot (the driver loads one library from it) and does nothing,
// so ProfileMate's injection library is not loaded and no one subscribes to the (fake) CUPTI.
extern "C" __attribute__((visibility("default"))) int InitializeInjection() {
  return 1;  // loaded and initialised, as the driver expects
}
