#include "cli/svg_writer.hpp"

#include <cstdio>

namespace sctplb::cli {

namespace {

// Coordinates with one decimal: enough for a screen, short in the text.
std::string number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
}

void attribute(std::string& out, std::string_view name, std::string_view value) {
    out += ' ';
    out += name;
    out += "=\"";
    out += xml_escape(value);
    out += '"';
}

void attribute(std::string& out, std::string_view name, double value) { attribute(out, name, number(value)); }

}  // namespace

std::string xml_escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        switch (c) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out += c;
        }
    }
    return out;
}

SvgWriter::SvgWriter(int width, int height) : width_(width), height_(height) {}

void SvgWriter::rect(double x, double y, double width, double height, std::string_view fill,
                     std::string_view stroke) {
    body_ += "<rect";
    attribute(body_, "x", x);
    attribute(body_, "y", y);
    attribute(body_, "width", width);
    attribute(body_, "height", height);
    attribute(body_, "fill", fill);
    attribute(body_, "stroke", stroke);
    body_ += "/>\n";
}

void SvgWriter::line(double x1, double y1, double x2, double y2, const LineStyle& style) {
    body_ += "<line";
    attribute(body_, "x1", x1);
    attribute(body_, "y1", y1);
    attribute(body_, "x2", x2);
    attribute(body_, "y2", y2);
    attribute(body_, "stroke", style.stroke);
    attribute(body_, "stroke-width", style.width);
    if (!style.dash.empty()) attribute(body_, "stroke-dasharray", style.dash);
    body_ += "/>\n";
}

void SvgWriter::triangle(double x1, double y1, double x2, double y2, double x3, double y3, std::string_view fill) {
    std::string points = number(x1);
    points += ',';
    points += number(y1);
    points += ' ';
    points += number(x2);
    points += ',';
    points += number(y2);
    points += ' ';
    points += number(x3);
    points += ',';
    points += number(y3);
    body_ += "<polygon";
    attribute(body_, "points", points);
    attribute(body_, "fill", fill);
    body_ += "/>\n";
}

void SvgWriter::text(double x, double y, std::string_view content, const TextStyle& style) {
    body_ += "<text";
    attribute(body_, "x", x);
    attribute(body_, "y", y);
    attribute(body_, "fill", style.fill);
    attribute(body_, "font-size", std::to_string(style.size));
    if (style.bold) attribute(body_, "font-weight", "bold");
    if (style.anchor != "start") attribute(body_, "text-anchor", style.anchor);
    if (style.halo) body_ += " stroke=\"#ffffff\" stroke-width=\"3\" paint-order=\"stroke\"";
    body_ += '>';
    body_ += xml_escape(content);
    body_ += "</text>\n";
}

void SvgWriter::begin_group(std::string_view class_name) {
    body_ += "<g";
    attribute(body_, "class", class_name);
    body_ += ">\n";
}

void SvgWriter::end_group() { body_ += "</g>\n"; }

std::string SvgWriter::finish() {
    // Monospace for every label: addresses and tags line up and read at a glance.
    std::string document = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"";
    attribute(document, "width", std::to_string(width_));
    attribute(document, "height", std::to_string(height_));
    std::string view_box = "0 0 ";
    view_box += std::to_string(width_);
    view_box += ' ';
    view_box += std::to_string(height_);
    attribute(document, "viewBox", view_box);
    attribute(document, "font-family", "DejaVu Sans Mono, Menlo, Consolas, monospace");
    document += ">\n";
    document += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
    document += body_;
    document += "</svg>\n";
    return document;
}

}  // namespace sctplb::cli
