#include "storage/secret_file.hpp"

#include "protocol/error.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace chatagent::storage {

using protocol::api_error;
using protocol::errc;

caf::error ensure_directory(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return api_error(errc::internal_error,
                     "cannot create data directory " + dir + ": " + ec.message());
  if (!std::filesystem::is_directory(dir, ec))
    return api_error(errc::internal_error, dir + " is not a directory");
  return caf::none;
}

caf::expected<std::string> load_or_create_secret(const std::string& path, size_t bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    ::fstat(fd, &st);
    if ((st.st_mode & 077) != 0) {
      ::close(fd);
      return api_error(errc::internal_error,
                       path + " is readable by other users; run chmod 600 " + path);
    }
    std::string text(4096, '\0');
    auto n = ::read(fd, text.data(), text.size());
    ::close(fd);
    if (n < 0)
      return api_error(errc::internal_error, "cannot read " + path + ": " + std::strerror(errno));
    text.resize(static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
      text.pop_back();
    if (text.size() < 32)
      return api_error(errc::internal_error, path + " holds fewer than 32 characters");
    return text;
  }
  if (errno != ENOENT)
    return api_error(errc::internal_error, "cannot open " + path + ": " + std::strerror(errno));

  std::random_device rd; // reads the kernel's CSPRNG on Linux
  static constexpr char hex[] = "0123456789abcdef";
  std::string secret;
  for (size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd()) & 0xFF;
    secret.push_back(hex[b >> 4]);
    secret.push_back(hex[b & 0xF]);
  }
  // Write to a temporary file, sync, then rename: a crash never leaves half a secret.
  auto tmp = path + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return api_error(errc::internal_error, "cannot create " + tmp + ": " + std::strerror(errno));
  auto line = secret + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return api_error(errc::internal_error, "cannot write " + path + ": " + std::strerror(errno));
  auto dir = std::filesystem::path{path}.parent_path().string();
  if (int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return secret;
}

} // namespace chatagent::storage
