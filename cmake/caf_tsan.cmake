# CAF 0.17.6 built with -fsanitize=thread, for CAIRN_SANITIZE=thread.
#
# Debian's libcaf_core and libcaf_io are not instrumented: ThreadSanitizer
# then sees none of the atomics and mutexes inside CAF's mailboxes and
# scheduler, and every message that hands data from one worker thread to
# another looks like a race. This file builds the same CAF from its upstream
# tarball (the one Debian packages) with ThreadSanitizer, libcaf_core and
# libcaf_io only, shared, into ${CAIRN_CAF_TSAN_PREFIX}, and sets
# CAF_INCLUDE_DIR, CAF_CORE_LIBRARY and CAF_IO_LIBRARY to it, so that the
# find_path/find_library calls that follow keep these values. Link the
# target `caf_tsan` as a dependency of whatever uses them.
#
# The tarball is downloaded once at configure time and kept in the build
# directory; the build stops with a message naming the URL if the download
# fails or its SHA-256 differs. Set CAIRN_CAF_TSAN_URL to use a mirror or a
# local copy (file:///...).

include(ExternalProject)

set(CAIRN_CAF_TSAN_URL
    "http://deb.debian.org/debian/pool/main/a/actor-framework/actor-framework_0.17.6.orig.tar.gz"
    CACHE STRING "Where to get CAF 0.17.6's source for the ThreadSanitizer build")
set(caf_tsan_sha256
    e2bf5bd243f08bb7d8adde197cfe3e6d71314ed3378fe0692f8932f4c3b3928c)
set(caf_tsan_dir ${PROJECT_BINARY_DIR}/caf-tsan)
set(caf_tsan_tarball ${caf_tsan_dir}/actor-framework_0.17.6.orig.tar.gz)
set(CAIRN_CAF_TSAN_PREFIX ${caf_tsan_dir}/prefix)

# -- the source: downloaded once, checked every time ----------------------------

set(caf_tsan_have_tarball OFF)
if(EXISTS ${caf_tsan_tarball})
  file(SHA256 ${caf_tsan_tarball} actual)
  if(actual STREQUAL caf_tsan_sha256)
    set(caf_tsan_have_tarball ON)
  else()
    file(REMOVE ${caf_tsan_tarball})
  endif()
endif()
if(NOT caf_tsan_have_tarball)
  message(STATUS "Downloading CAF 0.17.6 for ThreadSanitizer: "
                 "${CAIRN_CAF_TSAN_URL}")
  file(DOWNLOAD ${CAIRN_CAF_TSAN_URL} ${caf_tsan_tarball}.part
       STATUS status TIMEOUT 300 INACTIVITY_TIMEOUT 60)
  list(GET status 0 code)
  list(GET status 1 text)
  if(NOT code EQUAL 0)
    file(REMOVE ${caf_tsan_tarball}.part)
    message(FATAL_ERROR
      "CAIRN_SANITIZE=thread needs CAF 0.17.6's source to build it with "
      "ThreadSanitizer, and its download failed: ${text} (${code}) from "
      "${CAIRN_CAF_TSAN_URL}. Put the tarball (SHA-256 ${caf_tsan_sha256}) "
      "at ${caf_tsan_tarball}, or set CAIRN_CAF_TSAN_URL to a copy.")
  endif()
  file(SHA256 ${caf_tsan_tarball}.part actual)
  if(NOT actual STREQUAL caf_tsan_sha256)
    file(REMOVE ${caf_tsan_tarball}.part)
    message(FATAL_ERROR
      "CAF 0.17.6's source from ${CAIRN_CAF_TSAN_URL} has SHA-256 ${actual}, "
      "not ${caf_tsan_sha256}: refusing to build it.")
  endif()
  file(RENAME ${caf_tsan_tarball}.part ${caf_tsan_tarball})
endif()

# -- the build: libcaf_core and libcaf_io, shared, with ThreadSanitizer --------

set(caf_tsan_launcher "")
if(CMAKE_CXX_COMPILER_LAUNCHER)
  set(caf_tsan_launcher -DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER})
endif()
# CAF 0.17.6's io/network/receive_buffer.hpp uses std::numeric_limits
# without <limits>, which GCC 11 and later no longer include by the way.
set(caf_tsan_flags "-std=c++17 -fsanitize=thread -fno-omit-frame-pointer")
string(APPEND caf_tsan_flags " -include limits -Wno-deprecated-declarations")
ExternalProject_Add(caf_tsan
  URL ${caf_tsan_tarball}
  URL_HASH SHA256=${caf_tsan_sha256}
  PREFIX ${caf_tsan_dir}
  INSTALL_DIR ${CAIRN_CAF_TSAN_PREFIX}
  CMAKE_ARGS
    -DCMAKE_BUILD_TYPE=RelWithDebInfo
    -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    ${caf_tsan_launcher}
    "-DCMAKE_CXX_FLAGS=${caf_tsan_flags}"
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
    -DCMAKE_INSTALL_PREFIX=<INSTALL_DIR>
    -DCMAKE_INSTALL_LIBDIR=lib
    -DCAF_LOG_LEVEL=QUIET
    -DCAF_NO_COMPILER_CHECK=ON
    -DCAF_NO_EXAMPLES=ON
    -DCAF_NO_UNIT_TESTS=ON
    -DCAF_NO_TOOLS=ON
    -DCAF_NO_OPENCL=ON
    -DCAF_NO_OPENSSL=ON
    -DCAF_NO_PYTHON=ON
    -DCAF_NO_SUMMARY=ON
  BUILD_BYPRODUCTS
    ${CAIRN_CAF_TSAN_PREFIX}/lib/libcaf_core.so
    ${CAIRN_CAF_TSAN_PREFIX}/lib/libcaf_io.so
  UPDATE_DISCONNECTED ON
  LOG_CONFIGURE ON
  LOG_BUILD ON
  LOG_INSTALL ON
  LOG_OUTPUT_ON_FAILURE ON)

file(MAKE_DIRECTORY ${CAIRN_CAF_TSAN_PREFIX}/include)
set(CAF_INCLUDE_DIR ${CAIRN_CAF_TSAN_PREFIX}/include)
set(CAF_CORE_LIBRARY ${CAIRN_CAF_TSAN_PREFIX}/lib/libcaf_core.so)
set(CAF_IO_LIBRARY ${CAIRN_CAF_TSAN_PREFIX}/lib/libcaf_io.so)
