// sctpt plot EVENTS... -o FILE.png|FILE.svg: a timeline picture of one or more --events files,
// drawn by gnuplot. plot_data.cpp turns the events into series; this file writes them and a
// gnuplot script to a temporary directory and runs gnuplot there.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli.hpp"
#include "commands.hpp"
#include "log.hpp"
#include "plot_data.hpp"

namespace sctpt {
namespace {

// Servers are told apart by colour, paths by the mark's shape.
constexpr std::array<const char*, 10> server_colours{
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};
// gnuplot point types: filled circle, square, triangle, inverted triangle, diamond, pentagon.
constexpr std::array<int, 6> path_shapes{7, 5, 9, 11, 13, 15};

struct InstantStyle {
    int shape;
    const char* colour;
};
// In InstantKind order.
constexpr std::array<InstantStyle, instant_kinds> instant_styles{{
    {2, "#d62728"},   // path down: a red cross
    {1, "#2ca02c"},   // path up again: a green plus
    {12, "#000000"},  // failover: an open diamond
    {8, "#999999"},   // association up: an open triangle, grey
    {3, "#d62728"},   // association lost: a red star
    {6, "#ff00ff"},   // restart: an open circle, magenta
    {10, "#999999"},  // closed: an open inverted triangle, grey
}};

// A gnuplot double-quoted string (noenhanced text: only \ and " need escaping).
std::string gnuplot_text(std::string_view text) {
    std::string result = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            result += '\\';
            result += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            result += ' ';
        } else {
            result += c;
        }
    }
    result += '"';
    return result;
}

// A word for a data file column (labels are read as whitespace-separated words).
std::string word(std::string_view text) {
    std::string result;
    for (const char c : text) {
        result += (c == '"' || static_cast<unsigned char>(c) <= 0x20) ? '_' : c;
    }
    return result.empty() ? "-" : result;
}

bool read_file(const std::string& path, std::string& text, std::string& error) {
    std::ifstream input(path, std::ios::binary);
    if (!input) {
        error = path;
        error += ": cannot open (no such file, or not readable)";
        return false;
    }
    std::ostringstream content;
    content << input.rdbuf();
    text = content.str();
    return true;
}

bool write_file(const std::filesystem::path& path, const std::string& text, std::string& error) {
    std::ofstream output(path, std::ios::binary | std::ios::trunc);
    output << text;
    if (!output.flush()) {
        error = "cannot write ";
        error += path.string();
        return false;
    }
    return true;
}

// gnuplot from PATH, or empty.
std::string find_gnuplot() {
    const char* path = std::getenv("PATH");
    std::string_view directories = path != nullptr ? path : "/usr/bin:/bin";
    while (true) {
        const auto colon = directories.find(':');
        std::string candidate(directories.substr(0, colon));
        candidate += "/gnuplot";
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate;
        }
        if (colon == std::string_view::npos) {
            return {};
        }
        directories.remove_prefix(colon + 1);
    }
}

struct Picture {
    std::string output;
    bool svg = false;
    std::string title;
};

// The data files: one block per (server, path) of echoed messages (send time, lane, RTT), the
// lost messages, one block per instant kind, and the instants' labels.
struct DataFiles {
    std::string messages;
    std::vector<std::pair<std::size_t, std::size_t>> message_blocks;  // (server, path)
    std::string lost;
    std::string instants;
    std::vector<InstantKind> instant_blocks;
};

DataFiles data_files(const Timeline& timeline) {
    DataFiles files;
    char row[128];
    for (std::size_t server = 0; server < timeline.servers.size(); ++server) {
        for (std::size_t path = 0; path < timeline.paths.size(); ++path) {
            std::string block;
            for (const auto& mark : timeline.messages) {
                if (mark.server == server && mark.path == path) {
                    std::snprintf(row, sizeof row, "%.6f %zu %.3f\n", mark.t, mark.lane, mark.rtt_ms);
                    block += row;
                }
            }
            if (!block.empty()) {
                files.messages += block;
                files.messages += "\n\n";
                files.message_blocks.emplace_back(server, path);
            }
        }
    }
    for (const auto& mark : timeline.lost) {
        std::snprintf(row, sizeof row, "%.6f %zu\n", mark.t, mark.lane);
        files.lost += row;
    }
    for (std::size_t kind = 0; kind < instant_kinds; ++kind) {
        std::string block;
        for (const auto& instant : timeline.instants) {
            if (static_cast<std::size_t>(instant.kind) == kind) {
                std::snprintf(row, sizeof row, "%.6f %zu ", instant.t, instant.lane);
                block += row;
                block += word(instant.detail);
                block += '\n';
            }
        }
        if (!block.empty()) {
            files.instants += block;
            files.instants += "\n\n";
            files.instant_blocks.push_back(static_cast<InstantKind>(kind));
        }
    }
    return files;
}

std::string gnuplot_script(const Timeline& timeline, const DataFiles& data, const Picture& picture) {
    const std::size_t lanes = std::max<std::size_t>(timeline.lanes.size(), 1);
    // Pixel layout: the lane panel grows with the lanes, the RTT panel has a fixed height.
    const int lane_px = lanes <= 10 ? 40 : lanes <= 25 ? 22 : 15;
    const int top_px = std::max(160, static_cast<int>(lanes) * lane_px);
    const int rtt_px = 220;
    const int width = 1200;
    const int height = 60 + top_px + 30 + rtt_px + 60;
    const auto screen_y = [&](int pixels_from_top) {
        return 1.0 - static_cast<double>(pixels_from_top) / height;
    };
    const double x_end = std::max(timeline.end * 1.02, 1.0);
    std::ostringstream s;
    s << "set encoding utf8\n";
    if (picture.svg) {
        s << "set terminal svg size " << width << ',' << height
          << " font \"sans,11\" noenhanced background rgb \"white\"\n";
    } else {
        // pngcairo draws anti-aliased; the plain png terminal where cairo is missing.
        s << "if (strstrt(GPVAL_TERMINALS, \"pngcairo\") > 0) {\n  set terminal pngcairo size "
          << width << ',' << height << " font \"sans,10\" noenhanced\n} else {\n"
          << "  set terminal png size " << width << ',' << height << " noenhanced\n}\n";
    }
    s << "set output " << gnuplot_text(picture.output) << '\n';
    s << "set multiplot";
    if (!picture.title.empty()) {
        s << " title " << gnuplot_text(picture.title) << " font \",13\"";
    }
    s << "\nset lmargin at screen 0.10\nset rmargin at screen 0.76\n";
    s << "set xrange [0:" << x_end << "]\n";
    s << "set grid xtics lc rgb \"#dddddd\"\n";
    // Experiment markers: a dashed line across both panels, the label along it in the lanes.
    std::ostringstream marker_lines;
    for (const auto& marker : timeline.markers) {
        marker_lines << "set arrow from " << marker.t << ", graph 0 to " << marker.t
                     << ", graph 1 nohead dt 2 lw 1.5 lc rgb \"#cc0000\" front\n";
    }
    // Panel 1: one lane per association, lane 0 at the top.
    s << "set tmargin at screen " << screen_y(60) << "\nset bmargin at screen "
      << screen_y(60 + top_px) << '\n';
    s << "set yrange [" << static_cast<double>(lanes) - 0.5 << ":-0.5]\n";
    s << "set ytics scale 0 font \"," << (lanes > 25 ? 7 : 10) << "\" (";
    for (std::size_t lane = 0; lane < timeline.lanes.size(); ++lane) {
        s << (lane == 0 ? "" : ", ") << gnuplot_text(timeline.lanes[lane]) << ' ' << lane;
    }
    s << ")\nset format x \"\"\nset ylabel \"associations\"\n";
    s << "set key outside right top vertical Left reverse samplen 1 spacing 1.1 font \",9\"\n";
    s << marker_lines.str();
    for (const auto& marker : timeline.markers) {
        s << "set label " << gnuplot_text(marker.label) << " at " << marker.t
          << ", graph 0.98 rotate by 90 right offset -1.3,0 tc rgb \"#cc0000\" front\n";
    }
    const double mark_size = lanes > 25 ? 0.5 : 1.0;
    std::vector<std::string> plots;
    const auto add = [](std::vector<std::string>& list, const std::ostringstream& clause) {
        list.push_back(clause.str());
    };
    // Legend entries first (a NaN point draws nothing): colours are servers, shapes are paths.
    for (std::size_t server = 0; server < timeline.servers.size(); ++server) {
        std::ostringstream clause;
        clause << "NaN with points pt 7 ps 1.2 lc rgb \""
               << server_colours[server % server_colours.size()] << "\" title "
               << gnuplot_text(timeline.servers[server].empty() ? std::string("(no name)") : timeline.servers[server]);
        add(plots, clause);
    }
    for (std::size_t path = 0; path < timeline.paths.size(); ++path) {
        std::ostringstream clause;
        clause << "NaN with points pt " << path_shapes[path % path_shapes.size()]
               << " ps 1.2 lc rgb \"#333333\" title " << gnuplot_text("via " + timeline.paths[path]);
        add(plots, clause);
    }
    for (std::size_t block = 0; block < data.message_blocks.size(); ++block) {
        const auto [server, path] = data.message_blocks[block];
        std::ostringstream clause;
        clause << "'messages.dat' index " << block << " using 1:2 with points pt "
               << path_shapes[path % path_shapes.size()] << " ps " << mark_size << " lc rgb \""
               << server_colours[server % server_colours.size()] << "\" notitle";
        add(plots, clause);
    }
    if (!data.lost.empty()) {
        plots.emplace_back(
            "'lost.dat' using 1:2 with points pt 2 ps 1 lc rgb \"#000000\" title \"lost (no echo)\"");
    }
    for (std::size_t block = 0; block < data.instant_blocks.size(); ++block) {
        const auto kind = data.instant_blocks[block];
        const auto& style = instant_styles[static_cast<std::size_t>(kind)];
        std::ostringstream clause;
        clause << "'instants.dat' index " << block << " using 1:2 with points pt " << style.shape
               << " ps 2 lw 2 lc rgb \"" << style.colour << "\" title "
               << gnuplot_text(instant_kind_title(kind));
        add(plots, clause);
        // With few lanes there is room to name the address of a path change or failover.
        if (lanes <= 6 && (kind == InstantKind::path_down || kind == InstantKind::path_up ||
                           kind == InstantKind::failover)) {
            std::ostringstream labels;
            labels << "'instants.dat' index " << block
                   << " using 1:2:3 with labels offset 0,1.1 font \",8\" tc rgb \"" << style.colour
                   << "\" notitle";
            add(plots, labels);
        }
    }
    const auto plot_command = [&](const std::vector<std::string>& clauses) {
        s << "plot ";
        for (std::size_t i = 0; i < clauses.size(); ++i) {
            s << (i == 0 ? "" : ", \\\n     ") << clauses[i];
        }
        s << (clauses.empty() ? "NaN notitle\n" : "\n");
    };
    plot_command(plots);
    // Panel 2: the RTT of every echoed message at its send time, on the same time axis.
    s << "unset label\nunset arrow\nunset key\n" << marker_lines.str();
    s << "set tmargin at screen " << screen_y(60 + top_px + 30) << "\nset bmargin at screen "
      << screen_y(60 + top_px + 30 + rtt_px) << '\n';
    // RTTs of a cut span 0.1 ms to seconds: a log scale shows both ends.
    double rtt_low = 0;
    double rtt_high = 0;
    for (const auto& mark : timeline.messages) {
        rtt_low = rtt_low == 0 ? mark.rtt_ms : std::min(rtt_low, mark.rtt_ms);
        rtt_high = std::max(rtt_high, mark.rtt_ms);
    }
    if (rtt_low > 0 && rtt_high / rtt_low > 50) {
        s << "set logscale y\nset yrange [*:*]\n";
    } else {
        s << "set yrange [0:*]\n";
    }
    s << "set ytics auto font \",10\" scale 1\nset format x \"%g\"\n";
    s << "set xlabel \"seconds since the start\"\nset ylabel \"RTT (ms)\"\nset grid ytics\n";
    std::vector<std::string> rtt_plots;
    for (std::size_t block = 0; block < data.message_blocks.size(); ++block) {
        const auto [server, path] = data.message_blocks[block];
        std::ostringstream clause;
        clause << "'messages.dat' index " << block << " using 1:3 with points pt "
               << path_shapes[path % path_shapes.size()] << " ps 0.6 lc rgb \""
               << server_colours[server % server_colours.size()] << "\" notitle";
        add(rtt_plots, clause);
    }
    plot_command(rtt_plots);
    s << "unset multiplot\n";
    return s.str();
}

// Runs gnuplot on `script` in `directory`; false with `error` set (gnuplot's first error line).
bool run_gnuplot(const std::string& gnuplot, const std::filesystem::path& directory,
                 std::string& error) {
    const auto errors = directory / "gnuplot.err";
    const pid_t child = ::fork();
    if (child < 0) {
        error = "fork failed";
        return false;
    }
    if (child == 0) {
        if (::chdir(directory.c_str()) != 0 ||
            std::freopen(errors.c_str(), "w", stderr) == nullptr) {
            ::_exit(127);
        }
        ::execl(gnuplot.c_str(), "gnuplot", "plot.gp", static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    std::string messages;
    std::string ignored;
    read_file(errors.string(), messages, ignored);
    // gnuplot reports script errors on stderr and may still exit 0 for some of them.
    const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
                        messages.find("error") != std::string::npos;
    if (failed) {
        std::string first;
        for (std::istringstream lines(messages); std::getline(lines, first);) {
            if (first.find_first_not_of(" ^") != std::string::npos && first.find("error") != std::string::npos) {
                break;
            }
        }
        error = "gnuplot failed: ";
        if (first.empty()) {
            error += "exit status ";
            error += std::to_string(WEXITSTATUS(status));
        } else {
            error += first;
        }
        return false;
    }
    return true;
}

}  // namespace

int run_plot(int argc, char** argv) {
    std::vector<std::string> inputs;
    std::vector<std::string> markers;
    Picture picture;
    OptionTable table("plot", "A timeline picture (PNG or SVG, drawn by gnuplot) of --events files.");
    table.positionals("EVENTS", inputs);
    table.text("-o", picture.output, "FILE.png|FILE.svg");
    table.text("--output", picture.output, "FILE.png|FILE.svg");
    table.texts("--marker", markers, "T=LABEL");
    table.text("--title", picture.title, "TEXT");
    std::string error;
    if (!table.parse(argc, argv, 2, error)) {
        return usage_error(error);
    }
    if (table.help_requested()) {
        return table.print_help();
    }
    if (inputs.empty()) {
        return usage_error("plot needs at least one events file (sctpt ctraffic/client --events FILE)");
    }
    const std::filesystem::path output(picture.output);
    if (picture.output.empty()) {
        return usage_error("plot needs -o FILE.png or -o FILE.svg");
    }
    if (output.extension() == ".svg") {
        picture.svg = true;
    } else if (output.extension() != ".png") {
        error = "-o ";
        error += picture.output;
        error += ": unknown picture type (use .png or .svg)";
        return usage_error(error);
    }
    TimelineBuilder builder;
    for (const auto& marker : markers) {
        if (!builder.add_marker(marker, error)) {
            return usage_error(error);
        }
    }
    for (const auto& input : inputs) {
        std::string text;
        if (!read_file(input, text, error) || !builder.add_file(input, text, error)) {
            complain("%s", error.c_str());
            return exit_failure;
        }
    }
    const std::string gnuplot = find_gnuplot();
    if (gnuplot.empty()) {
        complain("gnuplot not found on PATH: install gnuplot-nox (apt-get install gnuplot-nox)");
        return exit_failure;
    }
    const Timeline timeline = builder.build();
    // gnuplot runs in the temporary directory: the output path must not depend on it.
    picture.output = std::filesystem::absolute(output).string();

    std::string directory_template = (std::filesystem::temp_directory_path() / "sctpt-plot-XXXXXX").string();
    if (::mkdtemp(directory_template.data()) == nullptr) {
        complain("cannot create a temporary directory in %s",
                 std::filesystem::temp_directory_path().c_str());
        return exit_failure;
    }
    const std::filesystem::path directory(directory_template);
    const DataFiles data = data_files(timeline);
    const bool drawn = write_file(directory / "messages.dat", data.messages, error) &&
                       write_file(directory / "lost.dat", data.lost, error) &&
                       write_file(directory / "instants.dat", data.instants, error) &&
                       write_file(directory / "plot.gp", gnuplot_script(timeline, data, picture), error) &&
                       run_gnuplot(gnuplot, directory, error);
    std::error_code ignored;
    std::filesystem::remove_all(directory, ignored);
    if (!drawn) {
        complain("%s", error.c_str());
        return exit_failure;
    }
    note("plot: %zu associations, %zu echoed and %zu lost messages, %zu markers -> %s",
         timeline.lanes.size(), timeline.messages.size(), timeline.lost.size(),
         timeline.markers.size(), picture.output.c_str());
    return exit_success;
}

}  // namespace sctpt
