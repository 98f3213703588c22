#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>
#include <utility>

#include "caf/error.hpp"

/// Small RAII wrappers of LMDB handles. Raw handles never leave
/// cairn/journal/detail/ and cairn/journal/*.cpp.
namespace cairn::journal::detail {

/// Translates an LMDB return code into a Cairn error, keeping mdb_strerror's
/// text and naming the operation: `storage_error: mdb_put(events): ...`.
/// The one place where LMDB codes become errors.
caf::error lmdb_error(int rc, std::string_view operation);

inline MDB_val to_val(const void* data, size_t size) noexcept {
  return MDB_val{size, const_cast<void*>(data)};
}

inline MDB_val to_val(std::string_view str) noexcept {
  return to_val(str.data(), str.size());
}

inline std::string_view to_view(const MDB_val& v) noexcept {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

/// Owns an `MDB_txn`; aborts it on destruction unless committed.
class txn {
public:
  txn() = default;

  explicit txn(MDB_txn* ptr) noexcept : ptr_(ptr) {
    // nop
  }

  txn(txn&& other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {
    // nop
  }

  txn& operator=(txn&& other) noexcept {
    abort();
    ptr_ = std::exchange(other.ptr_, nullptr);
    return *this;
  }

  ~txn() {
    abort();
  }

  /// Begins a transaction; `flags` is 0 or `MDB_RDONLY`.
  static int begin(MDB_env* env, unsigned flags, txn& out) noexcept {
    MDB_txn* ptr = nullptr;
    auto rc = mdb_txn_begin(env, nullptr, flags, &ptr);
    if (rc == MDB_SUCCESS)
      out = txn{ptr};
    return rc;
  }

  /// Commits; the handle is released whatever the outcome.
  int commit() noexcept {
    auto rc = mdb_txn_commit(ptr_);
    ptr_ = nullptr;
    return rc;
  }

  void abort() noexcept {
    if (ptr_ != nullptr) {
      mdb_txn_abort(ptr_);
      ptr_ = nullptr;
    }
  }

  MDB_txn* get() const noexcept {
    return ptr_;
  }

private:
  MDB_txn* ptr_ = nullptr;
};

/// Owns an `MDB_cursor`.
class cursor {
public:
  cursor() = default;

  cursor(const cursor&) = delete;
  cursor& operator=(const cursor&) = delete;

  ~cursor() {
    if (ptr_ != nullptr)
      mdb_cursor_close(ptr_);
  }

  int open(MDB_txn* t, MDB_dbi dbi) noexcept {
    return mdb_cursor_open(t, dbi, &ptr_);
  }

  /// Closes the cursor now. A cursor of a write transaction must be closed
  /// before its transaction commits or aborts: LMDB frees it at that point,
  /// and closing it afterwards would free it twice.
  void close() noexcept {
    if (ptr_ != nullptr) {
      mdb_cursor_close(ptr_);
      ptr_ = nullptr;
    }
  }

  int get(MDB_val& key, MDB_val& val, MDB_cursor_op op) noexcept {
    return mdb_cursor_get(ptr_, &key, &val, op);
  }

  MDB_cursor* get() const noexcept {
    return ptr_;
  }

private:
  MDB_cursor* ptr_ = nullptr;
};

/// Owns an `MDB_env`.
class env {
public:
  env() = default;

  env(const env&) = delete;
  env& operator=(const env&) = delete;

  ~env() {
    if (ptr_ != nullptr)
      mdb_env_close(ptr_);
  }

  int create() noexcept {
    return mdb_env_create(&ptr_);
  }

  MDB_env* get() const noexcept {
    return ptr_;
  }

private:
  MDB_env* ptr_ = nullptr;
};

} // namespace cairn::journal::detail
