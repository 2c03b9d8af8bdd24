#include "server/ui_assets.h"

namespace countersign::server {

const UiAsset* find_ui_asset(std::string_view path) {
  for (const auto& asset : ui_assets())
    if (asset.path == path) return &asset;
  return nullptr;
}

std::string ui_content_type(std::string_view path) {
  auto ends = [&](std::string_view suffix) { return path.ends_with(suffix); };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js") || ends(".mjs")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  if (ends(".txt")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace countersign::server
