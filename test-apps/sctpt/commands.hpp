// The sctpt commands; each returns the process exit status (cli.hpp).
#pragma once

#include <string>

namespace sctpt {

int run_server(int argc, char** argv);
int run_client(int argc, char** argv);
int run_ctraffic(int argc, char** argv);
int run_stats(int argc, char** argv);
int run_plot(int argc, char** argv);

// Where ctraffic writes its snapshots unless told otherwise: PREFIX + PID + SUFFIX.
inline constexpr const char* stats_file_prefix = "/tmp/sctpt-ctraffic-";
inline constexpr const char* stats_file_suffix = ".json";
std::string default_stats_file(long pid);

}  // namespace sctpt
