// Reading the reference tables out of the Markdown docs, so tests can compare
// them with what the code accepts.
//
// A "table" is the first Markdown table after a heading line (matched
// exactly, e.g. "## Volume attributes") and before the next heading: its
// rows, header and separator dropped, each split into trimmed cells
// ("\|" inside a cell is a literal '|', not a cell boundary).
//
// Pure functions over strings; no state.
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace freshfs::docs {

using Row = std::vector<std::string>;

std::string ReadTextFile(const std::string& path);

// The rows of the table under `heading`; empty when the heading or its
// table is missing.
std::vector<Row> TableUnder(std::string_view markdown, std::string_view heading);

// The `code spans` of a cell, in order, "\|" unescaped.
std::vector<std::string> CodeSpans(std::string_view cell);

// CodeSpans() of column `column` over all rows, as a set.
std::set<std::string> ColumnSpans(const std::vector<Row>& rows, size_t column);

// The row whose first cell has the code span `name`, or nullptr.
const Row* RowNamed(const std::vector<Row>& rows, std::string_view name);

// "poll-interval" -> "pollInterval", "s3-ca-file" -> "s3CaFile".
std::string CamelCase(std::string_view dashed);

// Relative link targets of a Markdown text: [text](target) with no scheme,
// e.g. "csi.md#dynamic-provisioning", "../examples/".
std::vector<std::string> RelativeLinks(std::string_view markdown);

// The anchors GitHub makes of a document's headings ("## Dynamic
// provisioning" -> "dynamic-provisioning").
std::set<std::string> HeadingAnchors(std::string_view markdown);

// Elements of `a` not in `b`, joined by ", " (empty when none), for messages.
std::string Missing(const std::set<std::string>& a, const std::set<std::string>& b);

}  // namespace freshfs::docs
