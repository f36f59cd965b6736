# The optional CUDA module (_cuda): built when nvcc is found (WITH_CUDA=AUTO) or required (ON).
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

if(DG_CUDA_ENABLED AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/bindings/cuda_module.cpp)
  enable_language(CUDA)
  message(STATUS "deltagrad: building the CUDA module with ${CMAKE_CUDA_COMPILER}")
  # The CUDA sources and the _cuda module are defined by the CUDA backend (issue 6).
endif()
