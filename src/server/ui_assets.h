// The web UI's static files (web/ in the source tree), embedded into the
// binary at build time by cmake/embed_web.cmake: nothing is read from disk
// or fetched from elsewhere at run time.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace countersign::server {

struct UiAsset {
  std::string_view path;  // relative to web/, e.g. "index.html", "assets/app.js"
  const unsigned char* data;
  std::size_t size;
};

// Every embedded file (generated: ui_assets_data.cc in the build tree).
const std::vector<UiAsset>& ui_assets();

// The file at `path` (relative to web/), or nullptr.
const UiAsset* find_ui_asset(std::string_view path);

// Content-Type by extension; application/octet-stream when unknown.
std::string ui_content_type(std::string_view path);

}  // namespace countersign::server
