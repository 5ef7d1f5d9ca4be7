#include "acme/storage.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "net/owned_fd.hpp"
#include "tls/acme_files.hpp"
#include "tls/self_signed.hpp"

namespace drawbridge::acme {

namespace {

std::string errno_text() { return std::strerror(errno); }

// The storage directory, 0700 when made here (its parents as the umask has them).
std::optional<std::string> make_private_directory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST) return std::nullopt;
  if (errno == ENOENT) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
    if (!ec && (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST)) return std::nullopt;
  }
  return dir + ": cannot create the directory: " + errno_text();
}

}  // namespace

std::optional<std::string> write_private_file(const std::string& path, const std::string& content) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
  // A name of its own (two processes may write the same file: a binary upgrade's pair, containers that
  // are all pid 1 on one volume), made exclusively.
  unsigned char random[8];
  if (RAND_bytes(random, sizeof random) != 1) return path + ": no random bytes for a temporary name";
  std::string temporary = path + ".tmp.";
  for (const unsigned char b : random) {
    temporary += "0123456789abcdef"[b >> 4];
    temporary += "0123456789abcdef"[b & 15];
  }
  {
    owned_fd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return temporary + ": cannot create: " + errno_text();
    std::size_t done = 0;
    while (done < content.size()) {
      const auto n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const auto why = temporary + ": cannot write: " + errno_text();
        ::unlink(temporary.c_str());
        return why;
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd.get(), 0600) != 0 || ::fsync(fd.get()) != 0) {
      const auto why = temporary + ": cannot sync: " + errno_text();
      ::unlink(temporary.c_str());
      return why;
    }
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const auto why = path + ": cannot replace: " + errno_text();
    ::unlink(temporary.c_str());
    return why;
  }
  owned_fd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory) ::fsync(directory.get());  // the rename itself durable; best effort
  return std::nullopt;
}

tls::pkey_ptr load_or_create_account_key(const conf::acme_config& acme, std::string& error) {
  if (auto problem = make_private_directory(acme.storage)) {
    error = *problem;
    return nullptr;
  }
  const auto path = tls::acme_account_key_path(acme);
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::ostringstream text;
    text << in.rdbuf();
    const auto pem = text.str();
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    tls::pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (!key || EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) {
      error = path + ": not a PEM EC private key (move it away to have a new account made)";
      return nullptr;
    }
    return key;
  }
  if (errno != ENOENT) {
    error = path + ": cannot read: " + errno_text();
    return nullptr;
  }
  auto key = tls::new_p256_key();
  if (auto problem = write_private_file(path, tls::key_to_pem(key.get()))) {
    error = *problem;
    return nullptr;
  }
  return key;
}

std::string bundle(const std::string& chain_pem, const std::string& key_pem) {
  std::string content = chain_pem;
  if (!content.empty() && content.back() != '\n') content += '\n';
  content += key_pem;
  return content;
}

std::optional<std::string> store_bundle(const conf::acme_config& acme, const std::string& pem) {
  if (auto problem = make_private_directory(acme.storage)) return problem;
  return write_private_file(tls::acme_certificate_path(acme), pem);
}

std::optional<std::string> store_certificate(const conf::acme_config& acme, const std::string& chain_pem,
                                             const std::string& key_pem) {
  return store_bundle(acme, bundle(chain_pem, key_pem));
}

}  // namespace drawbridge::acme
