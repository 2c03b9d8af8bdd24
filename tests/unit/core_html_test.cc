#include <gtest/gtest.h>

#include "core/html.h"

namespace countersign {
namespace {

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape(R"(<a href="x" title='y'>&</a>)"),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
}

TEST(HtmlEscape, LeavesOtherTextAndUtf8Alone) {
  EXPECT_EQ(html_escape("plain text, déjà vu 42"), "plain text, déjà vu 42");
  EXPECT_EQ(html_escape(""), "");
}

}  // namespace
}  // namespace countersign
