#include "gridgate/engine/schedule_parser.hpp"

#include <rapidjson/document.h>
#include <rapidjson/encodedstream.h>
#include <rapidjson/error/en.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gridgate/engine/asset_map.hpp"
#include "gridgate/engine/timestamp.hpp"

namespace gridgate::engine {

namespace {

constexpr double kMissing = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void refuse(const std::string& message) {
    throw ScheduleError(ScheduleError::Kind::BadInput, message);
}

/// The offending text as quoted in a message; a huge garbage cell is cut short
/// so the message stays readable.
std::string quoted_excerpt(std::string_view text) {
    constexpr std::size_t kMaxShown = 40;
    if (text.size() <= kMaxShown) return "'" + std::string(text) + "'";
    return "'" + std::string(text.substr(0, kMaxShown)) + "...'";
}

constexpr bool is_blank(char c) noexcept {
    return c == ' ' || c == '\t';
}

std::string_view trim_blanks(std::string_view s) noexcept {
    while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
    return s;
}

enum class ValueProblem { None, NotANumber, OutOfRange, Infinite, OtherNanSpelling };

/// One cell's text as a value. "", "NaN", "nan" and "null" are missing values
/// (pandas writes an empty cell by default; the others are its na_rep spellings
/// and what other writers produce). Surrounding blanks are tolerated.
ValueProblem parse_value(std::string_view text, double& out) noexcept {
    text = trim_blanks(text);
    if (text.empty() || text == "NaN" || text == "nan" || text == "null") {
        out = kMissing;
        return ValueProblem::None;
    }
    const char* first = text.data();
    const char* const last = first + text.size();
    // from_chars refuses a leading '+', which Python's float() and most writers accept.
    if (*first == '+' && text.size() > 1 && first[1] != '-' && first[1] != '+') ++first;
    double value = 0.0;
    const auto [end, ec] = std::from_chars(first, last, value, std::chars_format::general);
    if (ec == std::errc::result_out_of_range) return ValueProblem::OutOfRange;
    if (ec != std::errc{} || end != last) return ValueProblem::NotANumber;
    // from_chars also reads "inf", "infinity" and "NAN" in any case.
    if (std::isnan(value)) return ValueProblem::OtherNanSpelling;
    if (std::isinf(value)) return ValueProblem::Infinite;
    out = value;
    return ValueProblem::None;
}

std::string describe(ValueProblem problem, std::string_view text) {
    const std::string shown = quoted_excerpt(trim_blanks(text));
    switch (problem) {
        case ValueProblem::NotANumber:
            return shown + " is not a number";
        case ValueProblem::OutOfRange:
            return shown + " is out of the range of a double";
        case ValueProblem::Infinite:
            return shown + " is not a finite number";
        case ValueProblem::OtherNanSpelling:
            return shown +
                   " is not a number; write a missing value as an empty cell, NaN, nan or null";
        case ValueProblem::None:
            break;
    }
    return shown;
}

// ---------------------------------------------------------------------------
// CSV

enum class FieldEnd { Comma, LineEnd, InputEnd };

struct CsvField {
    std::string_view text;  // quotes removed and "" unescaped; unquoted text trimmed
    FieldEnd end = FieldEnd::InputEnd;
    const char* error = nullptr;  // a quoting problem; `text` means nothing then
};

/// RFC 4180 field scanner over the whole text. Hands out views into the text,
/// so a row costs no allocation; only a quoted field with doubled quotes is
/// unescaped, into one reused buffer (valid until the next read_field()).
class CsvReader {
  public:
    explicit CsvReader(std::string_view text) noexcept : text_(text) {}

    bool at_end() const noexcept { return pos_ == text_.size(); }
    /// 1-based physical line of the next character.
    std::size_t line() const noexcept { return line_; }

    /// The current line holds nothing but spaces or tabs.
    bool at_blank_line() const noexcept {
        std::size_t p = pos_;
        while (p < text_.size() && is_blank(text_[p])) ++p;
        return p == text_.size() || text_[p] == '\n' || text_[p] == '\r';
    }

    bool only_blank_lines_remain() const noexcept {
        return std::all_of(text_.begin() + static_cast<std::ptrdiff_t>(pos_), text_.end(),
                           [](char c) { return is_blank(c) || c == '\n' || c == '\r'; });
    }

    std::size_t remaining_bytes() const noexcept { return text_.size() - pos_; }

    std::size_t remaining_line_breaks() const noexcept {
        return static_cast<std::size_t>(
            std::count(text_.begin() + static_cast<std::ptrdiff_t>(pos_), text_.end(), '\n'));
    }

    CsvField read_field() {
        CsvField field;
        const std::size_t size = text_.size();
        std::size_t p = pos_;
        while (p < size && is_blank(text_[p])) ++p;
        if (p < size && text_[p] == '"') {
            if (!read_quoted(p, field)) return field;
            while (p < size && is_blank(text_[p])) ++p;
            if (p < size && text_[p] != ',' && text_[p] != '\n' && text_[p] != '\r') {
                field.error = "unexpected character after the closing quote of a quoted field";
                return field;
            }
        } else {
            const std::size_t start = pos_;
            while (p < size) {
                const char c = text_[p];
                if (c == ',' || c == '\n' || c == '\r') break;
                ++p;
            }
            field.text = trim_blanks(text_.substr(start, p - start));
        }
        finish_field(p, field);
        return field;
    }

  private:
    /// `p` is at the opening quote; on success it ends just past the closing one.
    bool read_quoted(std::size_t& p, CsvField& field) {
        const std::size_t content_start = p + 1;
        std::size_t scan = content_start;
        bool has_doubled_quotes = false;
        for (;;) {
            const std::size_t quote = text_.find('"', scan);
            if (quote == std::string_view::npos) {
                field.error = "a quoted field is never closed";
                return false;
            }
            line_ += static_cast<std::size_t>(
                std::count(text_.begin() + static_cast<std::ptrdiff_t>(scan),
                           text_.begin() + static_cast<std::ptrdiff_t>(quote), '\n'));
            if (quote + 1 < text_.size() && text_[quote + 1] == '"') {
                has_doubled_quotes = true;
                scan = quote + 2;
                continue;
            }
            const std::string_view content = text_.substr(content_start, quote - content_start);
            p = quote + 1;
            if (!has_doubled_quotes) {
                field.text = content;
                return true;
            }
            unescaped_.clear();
            for (std::size_t i = 0; i < content.size(); ++i) {
                unescaped_.push_back(content[i]);
                if (content[i] == '"') ++i;  // the second quote of a doubled pair
            }
            field.text = unescaped_;
            return true;
        }
    }

    void finish_field(std::size_t p, CsvField& field) noexcept {
        if (p == text_.size()) {
            field.end = FieldEnd::InputEnd;
        } else if (text_[p] == ',') {
            field.end = FieldEnd::Comma;
            ++p;
        } else {
            field.end = FieldEnd::LineEnd;
            if (text_[p] == '\r') ++p;
            if (p < text_.size() && text_[p] == '\n') ++p;
            ++line_;
        }
        pos_ = p;
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t line_ = 1;
    std::string unescaped_;
};

std::string at_line(std::size_t line) {
    return "line " + std::to_string(line) + ": ";
}

std::string at_cell(std::size_t line, std::size_t column, std::string_view name) {
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + " (" +
           std::string(name) + "): ";
}

std::string at_cell(std::size_t line, std::size_t column) {
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + ": ";
}

[[noreturn]] void refuse_field_count(std::size_t line, std::size_t expected, std::size_t got) {
    refuse(at_line(line) + "expected " + std::to_string(expected) +
           " fields like the header, got " + std::to_string(got));
}

// ---------------------------------------------------------------------------
// JSON

std::string_view json_type_name(const rapidjson::Value& v) noexcept {
    switch (v.GetType()) {
        case rapidjson::kNullType:
            return "null";
        case rapidjson::kFalseType:
        case rapidjson::kTrueType:
            return "boolean";
        case rapidjson::kObjectType:
            return "object";
        case rapidjson::kArrayType:
            return "array";
        case rapidjson::kStringType:
            return "string";
        case rapidjson::kNumberType:
            return "number";
    }
    return "value";
}

std::string_view string_of(const rapidjson::Value& v) noexcept {
    return {v.GetString(), v.GetStringLength()};
}

std::string element_path(const std::string& base, std::size_t i) {
    return base + "[" + std::to_string(i) + "]";
}

/// `$.asset_map.ev_001`, or `$.asset_map["ev 001"]` for a key that is no identifier.
std::string member_path(const std::string& base, std::string_view key) {
    const bool identifier = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    }) && !(key.front() >= '0' && key.front() <= '9');
    if (identifier) return base + "." + std::string(key);
    std::string path = base + "[\"";
    for (char c : key) {
        if (c == '"' || c == '\\') path.push_back('\\');
        path.push_back(c);
    }
    return path + "\"]";
}

// A schedule nests four levels at most ({"schedule": {"data": [[...]]}}).
constexpr int kMaxJsonDepth = 64;

/// The offset of the bracket that opens level kMaxJsonDepth + 1, if any.
/// RapidJSON's parser recurses once per level: a body of a few megabytes of
/// brackets would run the engine's thread off its stack. Strings are skipped
/// as the parser reads them, so both see the same brackets up to the first
/// syntax error, where the parser stops.
std::optional<std::size_t> too_deep_at(std::string_view text) {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxJsonDepth) return i;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return std::nullopt;
}

std::string text_position(std::string_view text, std::size_t offset) {
    offset = std::min(offset, text.size());
    const std::string_view before = text.substr(0, offset);
    const std::size_t line =
        1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
    const std::size_t last_break = before.rfind('\n');
    const std::size_t column =
        last_break == std::string_view::npos ? offset + 1 : offset - last_break;
    return "line " + std::to_string(line) + ", column " + std::to_string(column) + " (offset " +
           std::to_string(offset) + ")";
}

// Hands a JSON text's events to a Document, reading each number as
// from_chars reads a CSV cell, so a number is the same double in both forms.
// (RapidJSON 1.1.0's own exact reading has a bug besides: a zero with a large
// exponent, "0e42", comes out as whatever its count of leading zeros of 0
// happens to give, -1.5e231 on one build.)
class ExactNumbers : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ExactNumbers> {
  public:
    explicit ExactNumbers(rapidjson::Document& doc) : doc_(doc) {}

    bool Null() { return doc_.Null(); }
    bool Bool(bool b) { return doc_.Bool(b); }
    bool String(const char* s, rapidjson::SizeType n, bool copy) { return doc_.String(s, n, copy); }
    bool StartObject() { return doc_.StartObject(); }
    bool Key(const char* s, rapidjson::SizeType n, bool copy) { return doc_.Key(s, n, copy); }
    bool EndObject(rapidjson::SizeType members) { return doc_.EndObject(members); }
    bool StartArray() { return doc_.StartArray(); }
    bool EndArray(rapidjson::SizeType elements) { return doc_.EndArray(elements); }

    bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
        const std::string_view text(s, n);
        // The tokens kParseNanAndInfFlag lets through (pandas writes NaN).
        if (text == "NaN") return doc_.Double(std::numeric_limits<double>::quiet_NaN());
        if (text == "Infinity" || text == "Inf")
            return doc_.Double(std::numeric_limits<double>::infinity());
        if (text == "-Infinity" || text == "-Inf")
            return doc_.Double(-std::numeric_limits<double>::infinity());
        const char* const end = s + n;
        // An integer stays one (the index's epoch milliseconds); one too
        // large for 64 bits becomes a double, as RapidJSON makes it.
        if (text.find_first_of(".eE") == std::string_view::npos) {
            if (text.front() == '-') {
                std::int64_t v = 0;
                if (auto r = std::from_chars(s, end, v); r.ec == std::errc{} && r.ptr == end)
                    return doc_.Int64(v);
            } else {
                std::uint64_t v = 0;
                if (auto r = std::from_chars(s, end, v); r.ec == std::errc{} && r.ptr == end)
                    return doc_.Uint64(v);
            }
        }
        double v = 0.0;
        const auto r = std::from_chars(s, end, v, std::chars_format::general);
        if (r.ec != std::errc{} || r.ptr != end) {
            problem = "the number " + std::string(text) + " is out of the range of a double";
            return false;
        }
        return doc_.Double(v);
    }

    std::string problem;  // why a number stopped the parse

  private:
    rapidjson::Document& doc_;
};

void parse_json_document(std::string_view text, rapidjson::Document& doc) {
    if (auto at = too_deep_at(text)) {
        refuse("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels at " +
               text_position(text, *at));
    }
    rapidjson::MemoryStream bytes(text.data(), text.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> in(bytes);
    rapidjson::Reader reader;
    ExactNumbers numbers(doc);
    auto parse = [&](rapidjson::Document&) {
        return !reader
                    .Parse<rapidjson::kParseNumbersAsStringsFlag | rapidjson::kParseNanAndInfFlag>(
                        in, numbers)
                    .IsError();
    };
    doc.Populate(parse);
    if (!reader.HasParseError()) return;
    refuse("invalid JSON at " + text_position(text, reader.GetErrorOffset()) + ": " +
           (numbers.problem.empty()
                ? std::string(rapidjson::GetParseError_En(reader.GetParseErrorCode()))
                : numbers.problem));
}

std::vector<std::string> read_json_columns(const rapidjson::Value& v, const std::string& path) {
    if (!v.IsArray()) {
        refuse(path + ": expected an array of column names, got " + std::string(json_type_name(v)));
    }
    if (v.Empty()) refuse(path + ": no data columns");
    std::vector<std::string> columns;
    columns.reserve(v.Size());
    std::unordered_map<std::string_view, std::size_t> first_seen;
    first_seen.reserve(v.Size());
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        const rapidjson::Value& name = v[i];
        if (!name.IsString()) {
            refuse(element_path(path, i) + ": expected a string, got " +
                   std::string(json_type_name(name)));
        }
        if (name.GetStringLength() == 0) refuse(element_path(path, i) + ": empty column name");
        const auto [it, inserted] = first_seen.emplace(string_of(name), i);
        if (!inserted) {
            refuse(element_path(path, i) + ": duplicate column name \"" +
                   std::string(string_of(name)) + "\" (also " + element_path(path, it->second) +
                   ")");
        }
        columns.emplace_back(string_of(name));
    }
    return columns;
}

std::vector<TimePoint> read_json_index(const rapidjson::Value& v, const std::string& path) {
    if (!v.IsArray()) {
        refuse(path + ": expected an array of timestamps, got " + std::string(json_type_name(v)));
    }
    if (v.Empty()) refuse(path + ": no rows");
    std::vector<TimePoint> index;
    index.reserve(v.Size());
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
        const rapidjson::Value& entry = v[i];
        std::optional<TimePoint> t;
        if (entry.IsString()) {
            t = parse_timestamp(string_of(entry));
            if (!t) {
                refuse(element_path(path, i) + ": " + quoted_excerpt(string_of(entry)) +
                       " is not an ISO 8601 timestamp");
            }
        } else if (entry.IsInt64()) {
            // pandas' default date_format writes epoch milliseconds.
            constexpr std::int64_t kMaxMillis =
                std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::duration::max())
                    .count() -
                1;
            const std::int64_t millis = entry.GetInt64();
            if (millis > kMaxMillis || millis < -kMaxMillis) {
                refuse(element_path(path, i) + ": " + std::to_string(millis) +
                       " epoch milliseconds is out of the representable range");
            }
            t = TimePoint(
                std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds(millis)));
        } else if (entry.IsUint64()) {
            refuse(element_path(path, i) + ": " + std::to_string(entry.GetUint64()) +
                   " epoch milliseconds is out of the representable range");
        } else {
            const std::string got =
                entry.IsNumber() ? "a non-integer number" : std::string(json_type_name(entry));
            refuse(element_path(path, i) +
                   ": expected an ISO 8601 string or integer epoch milliseconds, got " + got);
        }
        if (!index.empty() && *t <= index.back()) {
            refuse(element_path(path, i) + ": " + format_timestamp(*t) + " is not after " +
                   element_path(path, i - 1) + " (" + format_timestamp(index.back()) +
                   "); the index must be strictly increasing");
        }
        index.push_back(*t);
    }
    return index;
}

/// Whether a column's cells must be numbers. A column that drives no asset
/// is only reported as ignored, so it may hold anything (a mode, a label):
/// its numbers are kept, anything else reads as no value.
std::vector<bool> command_columns(const std::vector<std::string>& columns) {
    std::vector<bool> out(columns.size());
    for (std::size_t c = 0; c < columns.size(); ++c) out[c] = column_target(columns[c]).has_value();
    return out;
}

/// Fills schedule.values column-major from row-major JSON rows.
void read_json_data(const rapidjson::Value& v, const std::string& path, Schedule& schedule) {
    if (!v.IsArray()) {
        refuse(path + ": expected an array of rows, got " + std::string(json_type_name(v)));
    }
    const std::size_t rows = schedule.rows();
    const std::size_t cols = schedule.cols();
    if (v.Size() != rows) {
        refuse(path + ": " + std::to_string(v.Size()) + " rows, but the index has " +
               std::to_string(rows) + " timestamps");
    }
    // Check every row's shape before allocating rows x cols, so a short body
    // cannot claim a huge table.
    for (rapidjson::SizeType r = 0; r < v.Size(); ++r) {
        const rapidjson::Value& row = v[r];
        if (!row.IsArray()) {
            refuse(element_path(path, r) + ": expected an array (one row), got " +
                   std::string(json_type_name(row)));
        }
        if (row.Size() != cols) {
            refuse(element_path(path, r) + ": expected " + std::to_string(cols) +
                   " values (one per column), got " + std::to_string(row.Size()));
        }
    }
    schedule.values.assign(rows * cols, kMissing);
    const std::vector<bool> numeric = command_columns(schedule.columns);
    for (rapidjson::SizeType r = 0; r < v.Size(); ++r) {
        const rapidjson::Value& row = v[r];
        for (rapidjson::SizeType c = 0; c < row.Size(); ++c) {
            const rapidjson::Value& cell = row[c];
            if (cell.IsNull() || (!numeric[c] && !cell.IsNumber())) continue;
            if (!cell.IsNumber()) {
                refuse(element_path(element_path(path, r), c) +
                       ": expected a number or null, got " + std::string(json_type_name(cell)));
            }
            const double value = cell.GetDouble();
            if (std::isinf(value) && !numeric[c]) continue;
            if (std::isinf(value)) {
                refuse(element_path(element_path(path, r), c) +
                       ": infinite value; a missing value is null");
            }
            schedule.values[c * rows + r] = value;  // NaN stays NaN: missing
        }
    }
}

Schedule schedule_from_split(const rapidjson::Value& v, const std::string& path) {
    if (!v.IsObject()) {
        refuse(path +
               ": expected an object with \"columns\", \"index\" and \"data\" (pandas "
               "orient=\"split\"), got " +
               std::string(json_type_name(v)));
    }
    const rapidjson::Value* columns = nullptr;
    const rapidjson::Value* index = nullptr;
    const rapidjson::Value* data = nullptr;
    std::string unknown_keys;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
        const std::string_view key = string_of(m->name);
        const rapidjson::Value** slot = key == "columns" ? &columns
                                        : key == "index" ? &index
                                        : key == "data"  ? &data
                                                         : nullptr;
        if (slot == nullptr) {
            unknown_keys += (unknown_keys.empty() ? "\"" : ", \"") + std::string(key) + "\"";
            continue;
        }
        if (*slot != nullptr) refuse(path + ": duplicate key \"" + std::string(key) + "\"");
        *slot = &m->value;
    }
    if (!unknown_keys.empty()) {
        refuse(path + ": unknown key(s) " + unknown_keys +
               "; pandas orient=\"split\" has only \"columns\", \"index\" and \"data\"");
    }
    if (columns == nullptr) refuse(path + ": missing \"columns\"");
    if (index == nullptr) refuse(path + ": missing \"index\"");
    if (data == nullptr) refuse(path + ": missing \"data\"");

    Schedule schedule;
    schedule.columns = read_json_columns(*columns, path + ".columns");
    schedule.index = read_json_index(*index, path + ".index");
    read_json_data(*data, path + ".data", schedule);
    schedule.json_data_path = path + ".data";
    return schedule;
}

std::map<std::string, std::string> read_asset_map(const rapidjson::Value& v,
                                                  const std::string& path) {
    if (!v.IsObject()) {
        refuse(path + ": expected an object of column key -> asset id, got " +
               std::string(json_type_name(v)));
    }
    std::map<std::string, std::string> asset_map;
    for (auto m = v.MemberBegin(); m != v.MemberEnd(); ++m) {
        const std::string_view key = string_of(m->name);
        if (!m->value.IsString()) {
            refuse(member_path(path, key) + ": expected a string, got " +
                   std::string(json_type_name(m->value)));
        }
        const auto [it, inserted] =
            asset_map.emplace(std::string(key), std::string(string_of(m->value)));
        if (!inserted) refuse(path + ": duplicate key \"" + std::string(key) + "\"");
    }
    return asset_map;
}

}  // namespace

Schedule parse_schedule_csv(std::string_view text) {
    constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
    if (text.starts_with(kUtf8Bom)) text.remove_prefix(kUtf8Bom.size());
    CsvReader reader(text);
    if (reader.at_blank_line()) {
        refuse(at_line(1) + "expected a header row (the index name, then the column names)");
    }

    std::vector<std::string> header;
    CsvField field;
    do {
        const std::size_t line = reader.line();
        field = reader.read_field();
        if (field.error != nullptr) refuse(at_cell(line, header.size() + 1) + field.error);
        header.emplace_back(field.text);
    } while (field.end == FieldEnd::Comma);
    if (header.size() < 2) {
        // pandas' to_csv(sep=";") or sep="\t" makes one field of the header
        // (read from the raw line: fields are trimmed of blanks).
        const std::string_view first_line = text.substr(0, text.find('\n'));
        std::string separator;
        if (first_line.find(';') != std::string_view::npos) separator = "';'";
        if (first_line.find('\t') != std::string_view::npos) separator = "a tab";
        refuse(at_line(1) +
               "the header names no data columns (expected the index, then one column per asset "
               "and quantity)" +
               (separator.empty()
                    ? std::string()
                    : "; fields are separated by ',' and this header by " + separator));
    }

    Schedule schedule;
    const std::string index_label = header.front().empty() ? "index" : header.front();
    schedule.columns.assign(std::make_move_iterator(header.begin() + 1),
                            std::make_move_iterator(header.end()));
    const std::size_t cols = schedule.cols();
    {
        std::unordered_map<std::string_view, std::size_t> first_seen;
        first_seen.reserve(cols);
        for (std::size_t c = 0; c < cols; ++c) {
            const std::string& name = schedule.columns[c];
            if (name.empty()) refuse(at_cell(1, c + 2) + "empty column name");
            const auto [it, inserted] = first_seen.emplace(name, c);
            if (!inserted) {
                refuse(at_cell(1, c + 2, name) + "duplicate column name (also column " +
                       std::to_string(it->second + 2) + ")");
            }
        }
    }

    const std::vector<bool> numeric = command_columns(schedule.columns);

    // Rows arrive row-major; collect them so, then transpose once at the end.
    // Every cell costs at least its comma, so the remaining bytes bound the
    // reservation even when a hostile header names millions of columns.
    const std::size_t expected_rows = reader.remaining_line_breaks() + 1;
    const std::size_t remaining_bytes = reader.remaining_bytes();
    std::vector<double> row_major;
    row_major.reserve(expected_rows > remaining_bytes / cols ? remaining_bytes
                                                             : expected_rows * cols);
    schedule.index.reserve(expected_rows);
    std::size_t previous_line = 0;
    while (!reader.at_end()) {
        const std::size_t line = reader.line();
        if (reader.at_blank_line()) {
            if (reader.only_blank_lines_remain()) break;
            refuse(at_line(line) + "blank line inside the data");
        }
        field = reader.read_field();
        if (field.error != nullptr) refuse(at_cell(line, 1, index_label) + field.error);
        const std::optional<TimePoint> time = parse_timestamp(field.text);
        if (!time) {
            refuse(at_cell(line, 1, index_label) + quoted_excerpt(field.text) +
                   " is not an ISO 8601 timestamp");
        }
        if (!schedule.index.empty() && *time <= schedule.index.back()) {
            refuse(at_cell(line, 1, index_label) + format_timestamp(*time) + " is not after " +
                   format_timestamp(schedule.index.back()) + " on line " +
                   std::to_string(previous_line) +
                   "; rows must be in strictly increasing time order");
        }
        for (std::size_t c = 0; c < cols; ++c) {
            if (field.end != FieldEnd::Comma) refuse_field_count(line, cols + 1, c + 1);
            const std::size_t cell_line = reader.line();
            field = reader.read_field();
            if (field.error != nullptr)
                refuse(at_cell(cell_line, c + 2, schedule.columns[c]) + field.error);
            double value = 0.0;
            const ValueProblem problem = parse_value(field.text, value);
            if (problem != ValueProblem::None && !numeric[c]) {
                value = kMissing;
            } else if (problem != ValueProblem::None) {
                refuse(at_cell(cell_line, c + 2, schedule.columns[c]) +
                       describe(problem, field.text));
            }
            row_major.push_back(value);
        }
        if (field.end == FieldEnd::Comma) {
            std::size_t got = cols + 1;
            while (field.end == FieldEnd::Comma && field.error == nullptr) {
                field = reader.read_field();
                ++got;
            }
            refuse_field_count(line, cols + 1, got);
        }
        schedule.index.push_back(*time);
        schedule.csv_lines.push_back(line);
        previous_line = line;
    }
    if (schedule.index.empty()) refuse(at_line(2) + "no data rows after the header");

    const std::size_t rows = schedule.rows();
    schedule.values.resize(rows * cols);
    for (std::size_t r = 0; r < rows; ++r) {
        const double* source = row_major.data() + r * cols;
        for (std::size_t c = 0; c < cols; ++c) schedule.values[c * rows + r] = source[c];
    }
    return schedule;
}

Schedule parse_schedule_json(std::string_view text) {
    rapidjson::Document doc;
    parse_json_document(text, doc);
    return schedule_from_split(doc, "$");
}

ScheduleRequest parse_schedule_request_json(std::string_view text) {
    rapidjson::Document doc;
    parse_json_document(text, doc);
    if (!doc.IsObject()) {
        refuse("$: expected an object, got " + std::string(json_type_name(doc)));
    }
    if (!doc.HasMember("schedule") && !doc.HasMember("asset_map")) {
        return ScheduleRequest{schedule_from_split(doc, "$"), {}};
    }

    const rapidjson::Value* schedule = nullptr;
    const rapidjson::Value* asset_map = nullptr;
    for (auto m = doc.MemberBegin(); m != doc.MemberEnd(); ++m) {
        const std::string_view key = string_of(m->name);
        const rapidjson::Value** slot = key == "schedule"    ? &schedule
                                        : key == "asset_map" ? &asset_map
                                                             : nullptr;
        if (slot == nullptr) {
            refuse("$: unknown key \"" + std::string(key) +
                   "\"; a wrapped body has only \"schedule\" and \"asset_map\"");
        }
        if (*slot != nullptr) refuse("$: duplicate key \"" + std::string(key) + "\"");
        *slot = &m->value;
    }
    if (schedule == nullptr) {
        refuse("$: missing \"schedule\" (the pandas orient=\"split\" object) beside \"asset_map\"");
    }
    ScheduleRequest request;
    request.schedule = schedule_from_split(*schedule, "$.schedule");
    if (asset_map != nullptr) request.asset_map = read_asset_map(*asset_map, "$.asset_map");
    return request;
}

}  // namespace gridgate::engine
