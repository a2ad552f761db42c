#include "netqueue/error.hpp"

#include <string>

namespace netqueue {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "netqueue"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::closed: return "closed";
      case errc::timeout: return "timed out";
      case errc::connect_failed: return "could not connect";
      case errc::invalid_option: return "invalid option";
      case errc::protocol_error: return "protocol error";
      case errc::truncated: return "message truncated";
      case errc::serialization: return "serialization error";
      case errc::transport: return "transport error";
      case errc::unavailable: return "not available in this build";
    }
    return "unknown netqueue error " + std::to_string(code);
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace netqueue
