# The SIMT emulator module (_simt, always) and the optional CUDA module (_cuda): built when nvcc
# is found (WITH_CUDA=AUTO) or required (WITH_CUDA=ON, which fails loudly without nvcc).
include(${CMAKE_CURRENT_LIST_DIR}/simt.cmake)

include(CheckLanguage)
set(DG_CUDA_ENABLED OFF)
if(NOT WITH_CUDA STREQUAL "OFF")
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(DG_CUDA_ENABLED ON)
  elseif(WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "WITH_CUDA=ON but no CUDA compiler (nvcc) was found; "
                        "install the CUDA toolkit or set -DWITH_CUDA=OFF/AUTO")
  else()
    message(STATUS "deltagrad: nvcc not found, building without CUDA")
  endif()
endif()

if(DG_CUDA_ENABLED)
  # Ampere and Hopper SASS, plus sm_90 PTX that newer GPUs JIT-compile. Override with
  # -DCMAKE_CUDA_ARCHITECTURES=... (e.g. "native" on a GPU machine for a faster build).
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  message(STATUS "deltagrad: building the CUDA module with ${CMAKE_CUDA_COMPILER} "
                 "(${CMAKE_CUDA_COMPILER_VERSION}) for ${CMAKE_CUDA_ARCHITECTURES}")

  # Few translation units on purpose: every .cu is compiled once per architecture.
  add_library(dg_cuda_kernels STATIC
    ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda/gemm.cu
    ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cuda/ops.cu)
  target_include_directories(dg_cuda_kernels PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/csrc)
  target_compile_options(dg_cuda_kernels PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:-lineinfo -Xcompiler=-Wall,-Wextra --Werror=all-warnings>)
  set_target_properties(dg_cuda_kernels PROPERTIES
    POSITION_INDEPENDENT_CODE ON
    CUDA_RUNTIME_LIBRARY Static)
  target_link_libraries(dg_cuda_kernels PUBLIC CUDA::cudart_static)

  pybind11_add_module(_cuda ${CMAKE_CURRENT_SOURCE_DIR}/csrc/bindings/cuda_module.cpp)
  target_link_libraries(_cuda PRIVATE dg_cuda_kernels CUDA::cudart_static)
  target_compile_options(_cuda PRIVATE ${DG_WARNINGS})
  # The static runtime: the module imports without libcudart on the machine; the driver
  # (libcuda) is loaded at run time by cudart itself, so its absence is an error code.
  set_target_properties(_cuda PROPERTIES CUDA_RUNTIME_LIBRARY Static)
  install(TARGETS _cuda LIBRARY DESTINATION deltagrad)
endif()
