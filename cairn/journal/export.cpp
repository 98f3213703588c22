#include "cairn/journal/export.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "cairn/journal/detail/utf8.hpp"
#include "cairn/journal/errc.hpp"
#include "cairn/journal/journal.hpp"

namespace cairn::journal {

namespace {

// -- UTF-8 --------------------------------------------------------------------

using detail::utf8_length;

bool valid_utf8(std::string_view str) {
  for (size_t i = 0; i < str.size();) {
    auto len = utf8_length(str, i);
    if (len == 0)
      return false;
    i += len;
  }
  return true;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// -- writing ------------------------------------------------------------------

/// Appends valid UTF-8 `str` as a JSON string.
void append_json_string(std::string& out, std::string_view str) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (auto ch : str) {
    auto c = static_cast<uint8_t>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0x0F];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

/// Builds a JSON object field by field.
class line_writer {
public:
  line_writer& num(std::string_view key, uint64_t value) {
    name(key) += std::to_string(value);
    return *this;
  }

  line_writer& signed_num(std::string_view key, int64_t value) {
    name(key) += std::to_string(value);
    return *this;
  }

  /// Adds `value` as a string, or as `<key>_base64` if it is not UTF-8.
  line_writer& text(std::string_view key, std::string_view value) {
    if (valid_utf8(value)) {
      append_json_string(name(key), value);
    } else {
      std::string alt{key};
      alt += "_base64";
      bytes(alt, value);
    }
    return *this;
  }

  line_writer& bytes(std::string_view key, std::string_view value) {
    auto& out = name(key);
    out += '"';
    out += to_base64(value);
    out += '"';
    return *this;
  }

  std::string done() {
    buf_ += '}';
    return std::move(buf_);
  }

private:
  std::string& name(std::string_view key) {
    if (buf_.size() > 1)
      buf_ += ',';
    append_json_string(buf_, key);
    buf_ += ':';
    return buf_;
  }

  std::string buf_ = "{";
};

// -- parsing ------------------------------------------------------------------

/// A JSON value of a line: a string or an integer.
struct json_value {
  bool is_string = false;
  std::string str;
  /// Integer literal text (digits with an optional leading '-').
  std::string number;
};

/// Parses one flat JSON object whose values are strings or integers.
class line_parser {
public:
  explicit line_parser(std::string_view str) : s_(str) {
    // nop
  }

  /// Parses the whole line into `fields`, in order. Returns an error text,
  /// or an empty string.
  std::string parse(std::vector<std::pair<std::string, json_value>>& fields) {
    ws();
    if (!eat('{'))
      return at("expected '{' (each line is one JSON object)");
    ws();
    if (!eat('}')) {
      for (;;) {
        ws();
        std::pair<std::string, json_value> field;
        if (peek() != '"')
          return at("expected a field name in double quotes");
        if (auto err = string(field.first); !err.empty())
          return err;
        for (auto& f : fields)
          if (f.first == field.first)
            return at("field \"" + field.first + "\" appears twice");
        ws();
        if (!eat(':'))
          return at("expected ':'");
        ws();
        if (auto err = value(field.first, field.second); !err.empty())
          return err;
        fields.push_back(std::move(field));
        ws();
        if (eat('}'))
          break;
        if (!eat(','))
          return at("expected ',' or '}'");
      }
    }
    ws();
    if (i_ != s_.size())
      return at("unexpected text after the object");
    return {};
  }

private:
  std::string at(const std::string& what) const {
    return "column " + std::to_string(i_ + 1) + ": " + what;
  }

  char peek() const {
    return i_ < s_.size() ? s_[i_] : '\0';
  }

  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  void ws() {
    while (i_ < s_.size()
           && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }

  std::string value(const std::string& key, json_value& out) {
    auto c = peek();
    if (c == '"') {
      out.is_string = true;
      return string(out.str);
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      auto start = i_;
      eat('-');
      if (eat('0')) {
        // JSON allows no further digits after a leading zero
      } else {
        while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
          ++i_;
      }
      auto c2 = peek();
      if (i_ == start + 1 && s_[start] == '-')
        return at("field \"" + key + "\": expected digits after '-'");
      if (c2 == '.' || c2 == 'e' || c2 == 'E' || (c2 >= '0' && c2 <= '9'))
        return at("field \"" + key + "\": expected an integer");
      out.number = std::string{s_.substr(start, i_ - start)};
      return {};
    }
    return at("field \"" + key + "\": expected a string or an integer");
  }

  int hex_digit(char c) const {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  }

  bool hex4(uint32_t& out) {
    if (s_.size() - i_ < 4)
      return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      auto d = hex_digit(s_[i_ + static_cast<size_t>(k)]);
      if (d < 0)
        return false;
      out = out * 16 + static_cast<uint32_t>(d);
    }
    i_ += 4;
    return true;
  }

  /// Parses a string at `"` into `out`.
  std::string string(std::string& out) {
    ++i_; // the opening quote
    for (;;) {
      if (i_ >= s_.size())
        return at("unterminated string");
      auto c = static_cast<uint8_t>(s_[i_]);
      if (c == '"') {
        ++i_;
        return {};
      }
      if (c < 0x20)
        return at("control character in a string (escape it)");
      if (c != '\\') {
        auto len = utf8_length(s_, i_);
        if (len == 0)
          return at("invalid UTF-8 in a string");
        out.append(s_.data() + i_, len);
        i_ += len;
        continue;
      }
      ++i_;
      auto e = peek();
      ++i_;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp))
            return at("expected four hex digits after \\u");
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return at("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (!eat('\\') || !eat('u') || !hex4(lo) || lo < 0xDC00
                || lo > 0xDFFF)
              return at("high surrogate without its low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --i_;
          return at("invalid escape in a string");
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

/// The fields of a parsed line, looked up by name; each field taken is
/// marked so that leftovers can be named.
class field_set {
public:
  explicit field_set(std::vector<std::pair<std::string, json_value>> fields)
    : fields_(std::move(fields)), used_(fields_.size(), false) {
    // nop
  }

  bool has(std::string_view key) const {
    return find(key) != nullptr;
  }

  /// Takes the unsigned integer `key` in [lo, hi] into `out`.
  std::string take_uint(std::string_view key, uint64_t& out, uint64_t lo = 0,
                        uint64_t hi = std::numeric_limits<uint64_t>::max()) {
    auto v = take(key);
    if (v == nullptr)
      return missing(key);
    if (v->is_string || v->number.empty() || v->number[0] == '-')
      return field(key) + "expected an integer from " + std::to_string(lo)
             + " to " + std::to_string(hi);
    uint64_t x = 0;
    for (auto c : v->number) {
      auto d = static_cast<uint64_t>(c - '0');
      if (x > (std::numeric_limits<uint64_t>::max() - d) / 10)
        return field(key) + v->number + " is too large";
      x = x * 10 + d;
    }
    if (x < lo || x > hi)
      return field(key) + v->number + " is out of range (" + std::to_string(lo)
             + " to " + std::to_string(hi) + ")";
    out = x;
    return {};
  }

  /// Takes the signed 64-bit integer `key` into `out`.
  std::string take_int(std::string_view key, int64_t& out) {
    auto v = take(key);
    if (v == nullptr)
      return missing(key);
    if (v->is_string)
      return field(key) + "expected an integer";
    bool neg = v->number[0] == '-';
    uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
    uint64_t x = 0;
    for (size_t k = neg ? 1 : 0; k < v->number.size(); ++k) {
      auto d = static_cast<uint64_t>(v->number[k] - '0');
      if (x > (limit - d) / 10)
        return field(key) + v->number + " is out of range of a signed 64-bit "
               + "integer";
      x = x * 10 + d;
    }
    out = neg ? static_cast<int64_t>(0 - x) : static_cast<int64_t>(x);
    return {};
  }

  /// Takes the text `key`, or its `<key>_base64` form, into `out`.
  std::string take_text(std::string_view key, std::string& out) {
    std::string alt{key};
    alt += "_base64";
    auto plain = has(key);
    auto coded = has(alt);
    if (plain && coded)
      return "fields \"" + std::string{key} + "\" and \"" + alt
             + "\" both given";
    if (coded)
      return take_bytes(alt, out);
    auto v = take(key);
    if (v == nullptr)
      return missing(key);
    if (!v->is_string)
      return field(key) + "expected a string";
    out = std::move(v->str);
    return {};
  }

  /// Takes the base64 string `key` into `out`, decoded.
  std::string take_bytes(std::string_view key, std::string& out) {
    auto v = take(key);
    if (v == nullptr)
      return missing(key);
    if (!v->is_string)
      return field(key) + "expected a base64 string";
    auto bytes = from_base64(v->str);
    if (!bytes)
      return field(key) + context_of(bytes.error());
    out = std::move(*bytes);
    return {};
  }

  /// Names a field not taken, or returns an empty string.
  std::string leftover() const {
    for (size_t k = 0; k < fields_.size(); ++k)
      if (!used_[k])
        return "unknown field \"" + fields_[k].first + "\"";
    return {};
  }

private:
  const json_value* find(std::string_view key) const {
    for (auto& f : fields_)
      if (f.first == key)
        return &f.second;
    return nullptr;
  }

  json_value* take(std::string_view key) {
    for (size_t k = 0; k < fields_.size(); ++k)
      if (fields_[k].first == key) {
        used_[k] = true;
        return &fields_[k].second;
      }
    return nullptr;
  }

  static std::string field(std::string_view key) {
    return "field \"" + std::string{key} + "\": ";
  }

  static std::string missing(std::string_view key) {
    return "missing field \"" + std::string{key} + "\"";
  }

  std::vector<std::pair<std::string, json_value>> fields_;
  std::vector<bool> used_;
};

std::string too_long(const char* what, size_t size, size_t limit) {
  return std::string{what} + " of " + std::to_string(size)
         + " bytes is over the maximum of " + std::to_string(limit);
}

/// Checks the sizes the journal accepts, so that a line is refused with
/// its number before anything is written.
std::string check_sizes(const stored_event& ev) {
  constexpr size_t max_id = 65535;
  constexpr size_t max_blob = 0xFFFFFFFFu - 64;
  auto& rec = ev.record;
  if (ev.stream.empty())
    return "the stream name is empty";
  if (ev.stream.size() > max_stream_name_size)
    return too_long("stream name", ev.stream.size(), max_stream_name_size);
  if (rec.type.empty())
    return "the type name is empty";
  if (rec.type.size() > max_type_name_size)
    return too_long("type name", rec.type.size(), max_type_name_size);
  if (rec.correlation_id.size() > max_id)
    return too_long("correlation id", rec.correlation_id.size(), max_id);
  if (rec.causation_id.size() > max_id)
    return too_long("causation id", rec.causation_id.size(), max_id);
  if (rec.metadata.size() > max_blob)
    return too_long("metadata", rec.metadata.size(), max_blob);
  if (rec.payload.size() > max_blob)
    return too_long("payload", rec.payload.size(), max_blob);
  if (rec.timestamp_ns == 0)
    return "field \"timestamp_ns\": 0 is not a timestamp (the journal would "
           "stamp the event with the time of the import)";
  return {};
}

caf::error refuse(std::string what) {
  return make_error(errc::invalid_argument, std::move(what));
}

} // namespace

// -- lines --------------------------------------------------------------------

std::string export_header_line() {
  return line_writer{}.num("cairn_export", export_format_version).done();
}

std::string export_event_line(const stored_event& ev) {
  auto& rec = ev.record;
  return line_writer{}
    .num("position", ev.position)
    .text("stream", ev.stream)
    .num("version", ev.version)
    .text("type", rec.type)
    .num("schema_version", rec.schema_version)
    .signed_num("timestamp_ns", rec.timestamp_ns)
    .text("correlation_id", rec.correlation_id)
    .text("causation_id", rec.causation_id)
    .bytes("metadata", rec.metadata)
    .bytes("payload", rec.payload)
    .done();
}

std::string export_end_line(uint64_t events, uint64_t next_from) {
  return line_writer{}
    .num("cairn_export_end", export_format_version)
    .num("events", events)
    .num("next_from", next_from)
    .done();
}

caf::expected<export_line> parse_export_line(std::string_view line) {
  std::vector<std::pair<std::string, json_value>> parsed;
  if (auto err = line_parser{line}.parse(parsed); !err.empty())
    return refuse(std::move(err));
  field_set fields{std::move(parsed)};
  export_line result;
  auto check_version = [](uint64_t v) -> std::string {
    if (v == export_format_version)
      return {};
    return "export format version " + std::to_string(v)
           + " is not supported (this build reads version "
           + std::to_string(export_format_version) + ")";
  };
  std::string err;
  uint64_t format = 0;
  if (fields.has("cairn_export")) {
    result.what = export_line::kind::header;
    err = fields.take_uint("cairn_export", format);
    if (err.empty())
      err = check_version(format);
  } else if (fields.has("cairn_export_end")) {
    result.what = export_line::kind::end;
    err = fields.take_uint("cairn_export_end", format);
    if (err.empty())
      err = check_version(format);
    if (err.empty())
      err = fields.take_uint("events", result.events);
    if (err.empty())
      err = fields.take_uint("next_from", result.next_from, 1);
  } else {
    result.what = export_line::kind::event;
    auto& ev = result.event;
    auto& rec = ev.record;
    uint64_t schema = 0;
    err = fields.take_uint("position", ev.position, 1);
    if (err.empty())
      err = fields.take_text("stream", ev.stream);
    if (err.empty())
      err = fields.take_uint("version", ev.version, 1);
    if (err.empty())
      err = fields.take_text("type", rec.type);
    if (err.empty())
      err = fields.take_uint("schema_version", schema, 0,
                             std::numeric_limits<uint32_t>::max());
    if (err.empty())
      err = fields.take_int("timestamp_ns", rec.timestamp_ns);
    if (err.empty())
      err = fields.take_text("correlation_id", rec.correlation_id);
    if (err.empty())
      err = fields.take_text("causation_id", rec.causation_id);
    if (err.empty())
      err = fields.take_bytes("metadata", rec.metadata);
    if (err.empty())
      err = fields.take_bytes("payload", rec.payload);
    rec.schema_version = static_cast<uint32_t>(schema);
    if (err.empty())
      err = check_sizes(ev);
  }
  if (err.empty())
    err = fields.leftover();
  if (!err.empty())
    return refuse(std::move(err));
  return result;
}

// -- base64 -------------------------------------------------------------------

std::string to_base64(std::string_view bytes) {
  static constexpr char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<uint32_t>(uint8_t(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    auto n = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[n >> 18];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (auto rest = bytes.size() - i; rest == 1) {
    auto n = at(i) << 16;
    out += alphabet[n >> 18];
    out += alphabet[(n >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    auto n = at(i) << 16 | at(i + 1) << 8;
    out += alphabet[n >> 18];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

caf::expected<std::string> from_base64(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '+')
      return 62;
    if (c == '/')
      return 63;
    return -1;
  };
  if (text.size() % 4 != 0)
    return refuse("invalid base64: length " + std::to_string(text.size())
                  + " is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    size_t pad = 0;
    if (last && text[i + 3] == '=')
      pad = text[i + 2] == '=' ? 2 : 1;
    uint32_t n = 0;
    for (size_t k = 0; k < 4; ++k) {
      if (k >= 4 - pad) {
        n <<= 6;
        continue;
      }
      auto d = value(text[i + k]);
      if (d < 0)
        return refuse("invalid base64 at offset " + std::to_string(i + k)
                      + ": '" + std::string{text[i + k]} + "'");
      n = n << 6 | static_cast<uint32_t>(d);
    }
    // The bits under the padding must be zero: one encoding per value.
    if ((pad == 1 && (n & 0xFF) != 0) || (pad == 2 && (n & 0xFFFF) != 0))
      return refuse("invalid base64 at offset " + std::to_string(i + 3 - pad)
                    + ": bits beyond the data are not zero");
    out += static_cast<char>(n >> 16);
    if (pad < 2)
      out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1)
      out += static_cast<char>(n & 0xFF);
  }
  return out;
}

// -- export -------------------------------------------------------------------

caf::expected<export_summary>
export_events(const journal& j, uint64_t from,
              const std::function<caf::error(std::string_view)>& write,
              const export_progress& progress) {
  constexpr size_t chunk_events = 512;
  auto last = j.last_position();
  if (!last)
    return last.error();
  export_summary result;
  result.next_from = std::max<uint64_t>(from, 1);
  std::string buf = export_header_line();
  buf += '\n';
  if (auto err = write(buf))
    return err;
  auto pos = result.next_from;
  while (pos <= *last) {
    auto wanted
      = static_cast<size_t>(std::min<uint64_t>(chunk_events, *last - pos + 1));
    auto slice = j.read_all(pos, wanted);
    if (!slice)
      return slice.error();
    if (slice->events.empty())
      break;
    buf.clear();
    for (auto& ev : slice->events) {
      if (ev.position > *last)
        break;
      buf += export_event_line(ev);
      buf += '\n';
      ++result.events;
      result.next_from = ev.position + 1;
    }
    if (auto err = write(buf))
      return err;
    if (progress)
      progress(result.next_from - 1, *last, result.events);
    if (slice->next_position <= pos)
      break;
    pos = slice->next_position;
  }
  result.next_from = std::max(result.next_from, *last + 1);
  buf = export_end_line(result.events, result.next_from);
  buf += '\n';
  if (auto err = write(buf))
    return err;
  return result;
}

} // namespace cairn::journal
