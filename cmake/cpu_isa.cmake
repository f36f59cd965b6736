# The CPU kernels, compiled once per ISA. Each op's kernels are written once, as a template over
# Vec<T> (csrc/cpu/simd.h), in csrc/cpu/<op>.h; for every op in DG_CPU_OPS and every ISA this
# generates <build>/cpu_isa/<op>_<isa>.cpp from cmake/cpu_isa.cpp.in (it defines DG_ISA_NS and
# includes the header) and compiles it with that ISA's flags: AVX-512, AVX2+FMA, or none (the
# portable fallback). Which build runs is decided at run time by CPUID (csrc/common/cpu_isa.cpp,
# csrc/cpu/dispatch.cpp). Sets DG_CPU_ISA_SOURCES. A new CPU op: add its name here.
set(DG_CPU_OPS gemm activation softmax loss linear optim reduce conv pool norm layout select rnn
    cdist sample pool3d lu)

set(DG_CPU_ISA_FLAGS_avx512 -mavx512f -mavx512dq -mavx512vl -mavx512bw -mavx2 -mfma -mf16c)
set(DG_CPU_ISA_FLAGS_avx2 -mavx2 -mfma -mf16c)
# The portable build without GCC's auto-vectorizer: GCC 12.2 at -O3 turned the generic conv
# tap_tile's scalar loop over the input channels (two lanes a step) into SSE code that also
# loaded the two lanes one channel further on (movhps) into a register half it then discarded.
# The last step so read a channel plane past the padded image: a segfault where that buffer
# ended a mapping (tests/test_ops_conv.py, generic float32 N2 C256 17x18 stride 2, depending on
# the heap left by the tests before it). -fno-tree-slp-vectorize alone kept the load. The SIMD
# builds write their vectors with intrinsics; no movhps load is left in the module.
set(DG_CPU_ISA_FLAGS_generic -fno-tree-vectorize)

# DG_CPU_AVX512=OFF leaves the AVX-512 builds out (dev/sanitize.sh on a CPU that cannot run
# them: they would only cost compile time); dg::avx512 is then an alias of dg::avx2
# (common/cpu_isa.h) and the AVX2 kernels are the best there are.
set(DG_CPU_ISAS avx512 avx2 generic)
if(NOT DG_CPU_AVX512)
  set(DG_CPU_ISAS avx2 generic)
endif()

set(DG_CPU_ISA_SOURCES "")
foreach(DG_OP ${DG_CPU_OPS})
  if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/csrc/cpu/${DG_OP}.h)
    message(FATAL_ERROR "DG_CPU_OPS names '${DG_OP}' but csrc/cpu/${DG_OP}.h does not exist")
  endif()
  foreach(DG_ISA ${DG_CPU_ISAS})
    set(src ${CMAKE_CURRENT_BINARY_DIR}/cpu_isa/${DG_OP}_${DG_ISA}.cpp)
    configure_file(${CMAKE_CURRENT_LIST_DIR}/cpu_isa.cpp.in ${src} @ONLY)
    set_source_files_properties(${src} PROPERTIES COMPILE_OPTIONS "${DG_CPU_ISA_FLAGS_${DG_ISA}}")
    list(APPEND DG_CPU_ISA_SOURCES ${src})
  endforeach()
endforeach()
