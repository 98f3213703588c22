#pragma once

#include <string>

namespace cairn::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
/// destruction.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const noexcept {
    return path_;
  }

  /// Returns `path() + "/" + name`.
  std::string sub(const std::string& name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

/// Reads a whole file into a string; empty if missing.
std::string read_file(const std::string& path);

/// Writes `bytes` over a whole file.
void write_file(const std::string& path, const std::string& bytes);

} // namespace cairn::test
