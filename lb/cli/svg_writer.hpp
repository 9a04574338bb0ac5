// A small SVG 1.1 text builder: the few shapes a sequence diagram needs, with
// every piece of text escaped for XML (a capture's bytes must never become markup).
#pragma once

#include <string>
#include <string_view>

namespace sctplb::cli {

// '&', '<', '>', '"' and '\'' as XML entities (XML 1.0 §2.4); everything else as is.
[[nodiscard]] std::string xml_escape(std::string_view text);

struct TextStyle {
    std::string_view fill = "#000000";
    int size = 11;             // px
    bool bold = false;
    std::string_view anchor = "start";  // start | middle | end
    bool halo = false;         // a white outline, so lines behind the text do not cut it
};

struct LineStyle {
    std::string_view stroke = "#000000";
    double width = 1.0;
    std::string_view dash{};  // stroke-dasharray, empty: solid
};

class SvgWriter {
public:
    // The document's size in px; every shape lives inside it.
    SvgWriter(int width, int height);

    void rect(double x, double y, double width, double height, std::string_view fill, std::string_view stroke);
    void line(double x1, double y1, double x2, double y2, const LineStyle& style);
    // A filled triangle, e.g. an arrow head.
    void triangle(double x1, double y1, double x2, double y2, double x3, double y3, std::string_view fill);
    void text(double x, double y, std::string_view content, const TextStyle& style);
    // A group with a class name, so readers (and tests) can find the parts of the drawing.
    void begin_group(std::string_view class_name);
    void end_group();

    // The finished document.
    [[nodiscard]] std::string finish();

private:
    std::string body_;
    int width_;
    int height_;
};

}  // namespace sctplb::cli
