# The _simt module: the csrc/cuda kernels compiled by the host compiler against the SIMT
# emulator (csrc/simt), for the tests. Always built, with or without CUDA.
add_library(dg_simt STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/csrc/simt/simt.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/csrc/simt/simt_kernels.cpp)
target_include_directories(dg_simt PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/csrc)
target_compile_definitions(dg_simt PUBLIC DG_SIMT)
# -O1: the emulator's cost is in context switches, not in the arithmetic; this keeps the
# compile of every kernel template quick on a shared 2-core machine.
target_compile_options(dg_simt PRIVATE ${DG_WARNINGS} -O1)

file(GLOB DG_SIMT_BINDINGS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/bindings/simt_*.cpp)
pybind11_add_module(_simt ${DG_SIMT_BINDINGS})
target_link_libraries(_simt PRIVATE dg_simt)
target_compile_options(_simt PRIVATE ${DG_WARNINGS})
install(TARGETS _simt LIBRARY DESTINATION deltagrad)
