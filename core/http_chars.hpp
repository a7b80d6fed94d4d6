#pragma once
// The byte classes and the line-end rule both HTTP codecs (core/http_protocol.cpp's server side,
// core/http_client_codec.cpp's client side) parse with.
#include <string_view>

namespace mux::http_chars {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Control characters are never part of a line; HTAB is white space, so callers allow it.
inline bool is_ctl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// RFC 9110 token characters: what methods and header names are made of.
inline bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

inline int hex_value(char c) {
  if (is_digit(c)) return c - '0';
  const char l = to_lower(c);
  return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
}

// Lines end in CRLF or a bare LF; a CR anywhere else is an error (it is how requests get
// smuggled past parsers that disagree on line ends). `cr` remembers a CR across reads.
enum class Cr { keep, drop, bad };
inline Cr check_cr(bool& cr, char c) {
  if (cr) {
    cr = false;
    return c == '\n' ? Cr::keep : Cr::bad;
  }
  if (c != '\r') return Cr::keep;
  cr = true;
  return Cr::drop;
}

}  // namespace mux::http_chars
