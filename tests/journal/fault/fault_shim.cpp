// libcairn-fault-shim.so: real I/O failures for the fault tests, injected
// under LMDB with LD_PRELOAD.
//
// The shim interposes the libc calls that LMDB 0.9.24 makes to write and
// sync its data file: `pwrite` (single pages, the meta page), `lseek` +
// `writev` (runs of pages), `write`, `fdatasync` / `fsync` (the sync of a
// commit) and `msync` (with `MDB_WRITEMAP`); `pwritev`, `pwrite64` and
// `sync_file_range` for completeness. Debian's liblmdb0 calls them through
// libc's dynamic symbols, so a preloaded definition replaces them.
//
// A call *matches* when its file descriptor refers to the file named by
// `CAIRN_FAULT_FILE` (the link in /proc/self/fd ends with "/" plus its
// value; e.g. `data.mdb`); the answer is cached per descriptor and
// forgotten when the descriptor is closed or reused (close, open, dup2).
// Without `CAIRN_FAULT_FILE` the shim passes every call through.
//
// Environment:
//
// - `CAIRN_FAULT_FILE=data.mdb`: the file whose calls match.
// - `CAIRN_FAULT_OP=write|sync`: which matching calls count;
//   `CAIRN_FAULT_AT=k`: the k-th of them (from 1) fails, once;
//   `CAIRN_FAULT_ERRNO=EIO|ENOSPC` (default EIO): the errno it fails with;
//   `CAIRN_FAULT_SHORT=1`: a failing write writes the first half of its
//   bytes and returns that count (a short write, as a full disk gives)
//   instead of -1.
// - `CAIRN_FAULT_HOLD_SYNC=<fifo>` and `CAIRN_FAULT_SYNC_ENTERED=<fifo>`:
//   every matching sync first writes one byte to SYNC_ENTERED, then blocks
//   until it reads one byte from HOLD_SYNC (or end of file: the test is
//   gone), then runs. The test opens both fifos read-write before it starts
//   the child, so that neither open blocks.
// - `CAIRN_FAULT_LOG=<file>`: one line per matching call, appended in one
//   write(2), in the order of the calls: `write <fd> <bytes> <offset>
//   <dsync|plain>` (dsync: the descriptor has O_DSYNC), `sync <call> <fd>`,
//   and `fault <op> <k> <errno name> [dsync]` when the fault fires.
//
// Only async-signal-safe, allocation-free code runs in the interposed calls
// (a fixed buffer for the log and the readlink), so that the shim works in
// any thread and inside the CAF scheduler.

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

// -- configuration ------------------------------------------------------------

enum class fault_op { none, write, sync };

struct config {
  bool loaded = false;
  const char* file = nullptr; // "/" + CAIRN_FAULT_FILE
  size_t file_len = 0;
  fault_op op = fault_op::none;
  long at = 0;
  int err = EIO;
  bool short_write = false;
  const char* hold = nullptr;
  const char* entered = nullptr;
  const char* log = nullptr;
};

config cfg;

char file_suffix[512];

std::atomic<int> init_state{0}; // 0: not yet, 1: running, 2: done

// -- the real calls -----------------------------------------------------------

using write_fn = ssize_t (*)(int, const void*, size_t);
using pwrite_fn = ssize_t (*)(int, const void*, size_t, off_t);
using writev_fn = ssize_t (*)(int, const struct iovec*, int);
using pwritev_fn = ssize_t (*)(int, const struct iovec*, int, off_t);
using sync_fn = int (*)(int);
using msync_fn = int (*)(void*, size_t, int);
using sfr_fn = int (*)(int, off64_t, off64_t, unsigned int);
using open_fn = int (*)(const char*, int, ...);
using openat_fn = int (*)(int, const char*, int, ...);
using close_fn = int (*)(int);
using dup2_fn = int (*)(int, int);
using dup3_fn = int (*)(int, int, int);
using read_fn = ssize_t (*)(int, void*, size_t);

template <class F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

struct real_calls {
  write_fn write = nullptr;
  pwrite_fn pwrite = nullptr;
  pwrite_fn pwrite64 = nullptr;
  writev_fn writev = nullptr;
  pwritev_fn pwritev = nullptr;
  pwritev_fn pwritev64 = nullptr;
  sync_fn fsync = nullptr;
  sync_fn fdatasync = nullptr;
  msync_fn msync = nullptr;
  sfr_fn sync_file_range = nullptr;
  open_fn open = nullptr;
  open_fn open64 = nullptr;
  openat_fn openat = nullptr;
  openat_fn openat64 = nullptr;
  close_fn close = nullptr;
  dup2_fn dup2 = nullptr;
  dup3_fn dup3 = nullptr;
  read_fn read = nullptr;
};

real_calls real;

void load_real() {
  real.write = next<write_fn>("write");
  real.pwrite = next<pwrite_fn>("pwrite");
  real.pwrite64 = next<pwrite_fn>("pwrite64");
  real.writev = next<writev_fn>("writev");
  real.pwritev = next<pwritev_fn>("pwritev");
  real.pwritev64 = next<pwritev_fn>("pwritev64");
  real.fsync = next<sync_fn>("fsync");
  real.fdatasync = next<sync_fn>("fdatasync");
  real.msync = next<msync_fn>("msync");
  real.sync_file_range = next<sfr_fn>("sync_file_range");
  real.open = next<open_fn>("open");
  real.open64 = next<open_fn>("open64");
  real.openat = next<openat_fn>("openat");
  real.openat64 = next<openat_fn>("openat64");
  real.close = next<close_fn>("close");
  real.dup2 = next<dup2_fn>("dup2");
  real.dup3 = next<dup3_fn>("dup3");
  real.read = next<read_fn>("read");
}

void load_config() {
  if (auto f = std::getenv("CAIRN_FAULT_FILE"); f != nullptr && *f != '\0') {
    std::snprintf(file_suffix, sizeof(file_suffix), "/%s", f);
    cfg.file = file_suffix;
    cfg.file_len = std::strlen(file_suffix);
  }
  if (auto op = std::getenv("CAIRN_FAULT_OP"); op != nullptr) {
    if (std::strcmp(op, "write") == 0)
      cfg.op = fault_op::write;
    else if (std::strcmp(op, "sync") == 0)
      cfg.op = fault_op::sync;
  }
  if (auto at = std::getenv("CAIRN_FAULT_AT"); at != nullptr)
    cfg.at = std::strtol(at, nullptr, 10);
  if (auto e = std::getenv("CAIRN_FAULT_ERRNO"); e != nullptr)
    cfg.err = std::strcmp(e, "ENOSPC") == 0 ? ENOSPC : EIO;
  if (auto s = std::getenv("CAIRN_FAULT_SHORT"); s != nullptr)
    cfg.short_write = std::strcmp(s, "1") == 0;
  cfg.hold = std::getenv("CAIRN_FAULT_HOLD_SYNC");
  cfg.entered = std::getenv("CAIRN_FAULT_SYNC_ENTERED");
  cfg.log = std::getenv("CAIRN_FAULT_LOG");
  cfg.loaded = true;
}

/// Loads the real calls and the configuration once. A call that arrives
/// while another thread initializes spins: dlsym does not write files.
void init() {
  int expected = 0;
  if (init_state.compare_exchange_strong(expected, 1)) {
    load_real();
    load_config();
    init_state.store(2);
    return;
  }
  while (init_state.load() != 2) {
    // spin
  }
}

// Runs before main; the calls made before it (by the dynamic loader and
// other constructors) initialize lazily.
__attribute__((constructor)) void on_load() {
  init();
}

// -- matching -----------------------------------------------------------------

constexpr int cache_size = 4096;

/// Per descriptor: 0 unknown, 1 matches, 2 does not match.
std::atomic<unsigned char> fd_cache[cache_size];

void forget(int fd) {
  if (fd >= 0 && fd < cache_size)
    fd_cache[fd].store(0, std::memory_order_relaxed);
}

bool path_matches(const char* path, size_t len) {
  return cfg.file != nullptr && len >= cfg.file_len
         && std::memcmp(path + len - cfg.file_len, cfg.file, cfg.file_len) == 0;
}

bool fd_matches(int fd) {
  if (cfg.file == nullptr || fd < 0)
    return false;
  if (fd < cache_size) {
    auto c = fd_cache[fd].load(std::memory_order_relaxed);
    if (c != 0)
      return c == 1;
  }
  char link[64];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  char path[4096];
  auto n = ::readlink(link, path, sizeof(path));
  bool result = n > 0 && path_matches(path, static_cast<size_t>(n));
  if (fd < cache_size)
    fd_cache[fd].store(result ? 1 : 2, std::memory_order_relaxed);
  return result;
}

/// Whether `addr` lies in a mapping of the file (for msync).
bool addr_matches(const void* addr) {
  if (cfg.file == nullptr)
    return false;
  auto fd = real.open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  auto a = reinterpret_cast<uintptr_t>(addr);
  static thread_local char buf[1 << 16];
  bool result = false;
  size_t used = 0;
  for (;;) {
    auto n = real.read(fd, buf + used, sizeof(buf) - 1 - used);
    if (n <= 0)
      break;
    used += static_cast<size_t>(n);
    buf[used] = '\0';
    char* line = buf;
    char* nl;
    while ((nl = std::strchr(line, '\n')) != nullptr) {
      *nl = '\0';
      unsigned long lo = 0, hi = 0;
      if (std::sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi) {
        auto slash = std::strchr(line, '/');
        result = slash != nullptr && path_matches(slash, std::strlen(slash));
      }
      line = nl + 1;
    }
    used = std::strlen(line);
    std::memmove(buf, line, used);
  }
  real.close(fd);
  return result;
}

// -- log and counters ---------------------------------------------------------

std::atomic<long> write_count{0};
std::atomic<long> sync_count{0};

void log_line(const char* fmt, ...) {
  if (cfg.log == nullptr)
    return;
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  auto n = std::vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n <= 0)
    return;
  auto fd = real.open(cfg.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return;
  auto len = static_cast<size_t>(n) < sizeof(line) ? static_cast<size_t>(n)
                                                   : sizeof(line) - 1;
  (void)real.write(fd, line, len);
  real.close(fd);
}

const char* errno_name(int err) {
  return err == ENOSPC ? "ENOSPC" : "EIO";
}

/// Whether `fd` was opened with O_DSYNC (LMDB's meta page descriptor).
bool is_dsync(int fd) {
  auto flags = ::fcntl(fd, F_GETFL);
  return flags != -1 && (flags & O_DSYNC) == O_DSYNC;
}

/// Logs a write: `write <fd> <bytes> <offset> <dsync|plain>`.
void log_write(int fd, size_t len, off_t off) {
  log_line("write %d %zu %lld %s\n", fd, len, static_cast<long long>(off),
           is_dsync(fd) ? "dsync" : "plain");
}

/// Counts a matching call of kind `op` on `fd`; returns whether it must
/// fail. The log marks a failing call on a descriptor opened with O_DSYNC
/// (LMDB's meta page descriptor) with "dsync".
bool count_and_decide(fault_op op, int fd) {
  auto& counter = op == fault_op::write ? write_count : sync_count;
  auto k = counter.fetch_add(1) + 1;
  if (cfg.op != op || k != cfg.at)
    return false;
  bool dsync = fd >= 0 && is_dsync(fd);
  log_line("fault %s %ld %s%s\n", op == fault_op::write ? "write" : "sync", k,
           errno_name(cfg.err), dsync ? " dsync" : "");
  return true;
}

// -- hold ---------------------------------------------------------------------

int hold_fd = -1;
int entered_fd = -1;
std::atomic<bool> hold_opening{false};

/// Reports "sync entered" and waits for the test to release the sync.
void hold_sync() {
  if (cfg.hold == nullptr || cfg.entered == nullptr)
    return;
  // Syncs of one journal come from its one writer; the flag only guards
  // against two first syncs racing to open the fifos.
  while (hold_opening.exchange(true)) {
    // spin
  }
  if (entered_fd < 0)
    entered_fd = real.open(cfg.entered, O_WRONLY | O_CLOEXEC);
  if (hold_fd < 0)
    hold_fd = real.open(cfg.hold, O_RDONLY | O_CLOEXEC);
  hold_opening.store(false);
  if (entered_fd < 0 || hold_fd < 0)
    return;
  char c = 's';
  while (real.write(entered_fd, &c, 1) < 0 && errno == EINTR) {
    // retry
  }
  while (real.read(hold_fd, &c, 1) < 0 && errno == EINTR) {
    // retry
  }
}

/// The common part of every sync call on a matching file: count, maybe
/// fail, maybe hold. Returns -1 (errno set) when the call must fail.
int before_sync(const char* call, int fd) {
  log_line("sync %s %d\n", call, fd);
  if (count_and_decide(fault_op::sync, fd)) {
    errno = cfg.err;
    return -1;
  }
  hold_sync();
  return 0;
}

size_t iov_total(const struct iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; ++i)
    total += iov[i].iov_len;
  return total;
}

/// Writes the first half of `iov` with `pwritev`-like semantics through
/// `do_write(buf, len, offset)`, one iovec element at a time.
template <class F>
ssize_t short_iov(const struct iovec* iov, int n, F do_write) {
  auto want = iov_total(iov, n) / 2;
  size_t done = 0;
  for (int i = 0; i < n && done < want; ++i) {
    auto len = iov[i].iov_len < want - done ? iov[i].iov_len : want - done;
    auto got = do_write(iov[i].iov_base, len, done);
    if (got < 0)
      return got;
    done += static_cast<size_t>(got);
  }
  return static_cast<ssize_t>(done);
}

} // namespace

// -- interposed calls ---------------------------------------------------------

extern "C" {

ssize_t write(int fd, const void* buf, size_t len) {
  init();
  if (!fd_matches(fd))
    return real.write(fd, buf, len);
  log_write(fd, len, ::lseek(fd, 0, SEEK_CUR));
  if (count_and_decide(fault_op::write, fd)) {
    if (cfg.short_write && len > 1)
      return real.write(fd, buf, len / 2);
    errno = cfg.err;
    return -1;
  }
  return real.write(fd, buf, len);
}

static ssize_t pwrite_common(pwrite_fn fn, int fd, const void* buf, size_t len,
                             off_t off) {
  if (!fd_matches(fd))
    return fn(fd, buf, len, off);
  log_write(fd, len, off);
  if (count_and_decide(fault_op::write, fd)) {
    if (cfg.short_write && len > 1)
      return fn(fd, buf, len / 2, off);
    errno = cfg.err;
    return -1;
  }
  return fn(fd, buf, len, off);
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
  init();
  return pwrite_common(real.pwrite, fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) {
  init();
  return pwrite_common(real.pwrite64, fd, buf, len, off);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  init();
  if (!fd_matches(fd))
    return real.writev(fd, iov, n);
  log_write(fd, iov_total(iov, n), ::lseek(fd, 0, SEEK_CUR));
  if (count_and_decide(fault_op::write, fd)) {
    if (cfg.short_write)
      return short_iov(iov, n, [&](void* b, size_t len, size_t) {
        return real.write(fd, b, len);
      });
    errno = cfg.err;
    return -1;
  }
  return real.writev(fd, iov, n);
}

static ssize_t pwritev_common(pwritev_fn fn, int fd, const struct iovec* iov,
                              int n, off_t off) {
  if (!fd_matches(fd))
    return fn(fd, iov, n, off);
  log_write(fd, iov_total(iov, n), off);
  if (count_and_decide(fault_op::write, fd)) {
    if (cfg.short_write)
      return short_iov(iov, n, [&](void* b, size_t len, size_t done) {
        return real.pwrite(fd, b, len, off + static_cast<off_t>(done));
      });
    errno = cfg.err;
    return -1;
  }
  return fn(fd, iov, n, off);
}

ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) {
  init();
  return pwritev_common(real.pwritev, fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int n, off_t off) {
  init();
  return pwritev_common(real.pwritev64, fd, iov, n, off);
}

int fsync(int fd) {
  init();
  if (fd_matches(fd) && before_sync("fsync", fd) != 0)
    return -1;
  return real.fsync(fd);
}

int fdatasync(int fd) {
  init();
  if (fd_matches(fd) && before_sync("fdatasync", fd) != 0)
    return -1;
  return real.fdatasync(fd);
}

int sync_file_range(int fd, off64_t off, off64_t len, unsigned int flags) {
  init();
  if (fd_matches(fd) && before_sync("sync_file_range", fd) != 0)
    return -1;
  return real.sync_file_range(fd, off, len, flags);
}

int msync(void* addr, size_t len, int flags) {
  init();
  if (cfg.file != nullptr && addr_matches(addr)
      && before_sync("msync", -1) != 0)
    return -1;
  return real.msync(addr, len, flags);
}

static mode_t mode_arg(int flags, va_list ap) {
  if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
    return static_cast<mode_t>(va_arg(ap, int));
  return 0;
}

int open(const char* path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  auto mode = mode_arg(flags, ap);
  va_end(ap);
  auto fd = real.open(path, flags, mode);
  forget(fd);
  return fd;
}

int open64(const char* path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  auto mode = mode_arg(flags, ap);
  va_end(ap);
  auto fd = real.open64(path, flags, mode);
  forget(fd);
  return fd;
}

int openat(int dir, const char* path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  auto mode = mode_arg(flags, ap);
  va_end(ap);
  auto fd = real.openat(dir, path, flags, mode);
  forget(fd);
  return fd;
}

int openat64(int dir, const char* path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  auto mode = mode_arg(flags, ap);
  va_end(ap);
  auto fd = real.openat64(dir, path, flags, mode);
  forget(fd);
  return fd;
}

int close(int fd) {
  init();
  forget(fd);
  return real.close(fd);
}

int dup2(int from, int to) {
  init();
  forget(to);
  return real.dup2(from, to);
}

int dup3(int from, int to, int flags) {
  init();
  forget(to);
  return real.dup3(from, to, flags);
}

} // extern "C"
