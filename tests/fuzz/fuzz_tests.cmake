# The libFuzzer targets of tests/fuzz, built by clang++ in a sub-build of
# this project (the main build may use g++) and run by ctest, label `fuzz`.
#
# CAIRN_FUZZ (default: ON when clang++ links a libFuzzer, ASan and UBSan
# program) adds the sub-build, configured with -DCAIRN_FUZZ_TARGETS_ONLY=ON
# so that it builds the journal library and the fuzz targets only, into
# <build>/fuzz. Each target is a ctest test that fuzzes for
# CAIRN_FUZZ_SECONDS over a copy of tests/fuzz/corpus/<target> in
# <build>/fuzz-work/<target> and fails on any crash.

find_program(CAIRN_FUZZ_CXX NAMES clang++-14 clang++
             DOC "clang++ for the libFuzzer targets")

# Whether clang++ and its libFuzzer and sanitizer runtimes are there.
set(cairn_fuzz_found OFF)
if(CAIRN_FUZZ_CXX)
  set(probe_dir "${PROJECT_BINARY_DIR}/fuzz-probe")
  file(WRITE "${probe_dir}/probe.cpp"
       "#include <cstddef>\n#include <cstdint>\n"
       "extern \"C\" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) {\n"
       "  return 0;\n}\n")
  execute_process(
    COMMAND "${CAIRN_FUZZ_CXX}" -fsanitize=fuzzer,address,undefined
            probe.cpp -o probe
    WORKING_DIRECTORY "${probe_dir}"
    RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
  if(probe_result EQUAL 0)
    set(cairn_fuzz_found ON)
  endif()
endif()

option(CAIRN_FUZZ "Build the libFuzzer targets with clang++, run them in ctest"
       ${cairn_fuzz_found})
set(CAIRN_FUZZ_SECONDS 15 CACHE STRING "Seconds each fuzz target runs in ctest")

if(NOT CAIRN_FUZZ)
  message(STATUS "cairn: fuzz targets off (needs clang and libclang-rt-14-dev)")
  return()
endif()
if(NOT cairn_fuzz_found)
  message(FATAL_ERROR "CAIRN_FUZZ needs clang++ with its libFuzzer runtime: "
                      "install clang and libclang-rt-14-dev")
endif()

include(ExternalProject)

set(cairn_fuzz_targets codec record stream_row snapshot outbox export config)
set(cairn_fuzz_bin "${PROJECT_BINARY_DIR}/fuzz")
set(cairn_fuzz_byproducts)
foreach(target IN LISTS cairn_fuzz_targets)
  list(APPEND cairn_fuzz_byproducts "${cairn_fuzz_bin}/fuzz_${target}")
endforeach()

# Every TU of the sub-build is instrumented; the targets link the fuzzer's
# main themselves (tests/fuzz/CMakeLists.txt).
set(cairn_fuzz_cxx_flags
    "-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all")

ExternalProject_Add(cairn_fuzz
  SOURCE_DIR "${PROJECT_SOURCE_DIR}"
  BINARY_DIR "${PROJECT_BINARY_DIR}/fuzz-build"
  CMAKE_CACHE_ARGS
    -DCAIRN_FUZZ_TARGETS_ONLY:BOOL=ON
    -DCMAKE_BUILD_TYPE:STRING=RelWithDebInfo
    -DCMAKE_CXX_COMPILER:FILEPATH=${CAIRN_FUZZ_CXX}
    -DCMAKE_CXX_COMPILER_LAUNCHER:STRING=${CMAKE_CXX_COMPILER_LAUNCHER}
    "-DCMAKE_CXX_FLAGS:STRING=${cairn_fuzz_cxx_flags}"
    -DCAIRN_FUZZ_OUTPUT_DIR:PATH=${cairn_fuzz_bin}
  INSTALL_COMMAND ""
  # Our own sources: let the sub-build's make decide what is out of date.
  BUILD_ALWAYS ON
  BUILD_BYPRODUCTS ${cairn_fuzz_byproducts})

foreach(target IN LISTS cairn_fuzz_targets)
  add_test(NAME fuzz_${target}
           COMMAND sh "${PROJECT_SOURCE_DIR}/tests/fuzz/run_fuzzer.sh"
                   "${cairn_fuzz_bin}/fuzz_${target}"
                   "${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${target}"
                   "${PROJECT_BINARY_DIR}/fuzz-work/${target}"
                   ${CAIRN_FUZZ_SECONDS})
  math(EXPR timeout "${CAIRN_FUZZ_SECONDS} + 120")
  set_tests_properties(fuzz_${target} PROPERTIES LABELS fuzz
                       TIMEOUT ${timeout})
endforeach()
