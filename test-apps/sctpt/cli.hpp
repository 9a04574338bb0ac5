// Command-line plumbing shared by the sctpt commands: option tables, the stack options, stack
// selection and signal handling.
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stack.hpp"

namespace sctpt {

constexpr int exit_success = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

// The options of one command. Every table also takes --help (and -h): parse() then stops and
// help_requested() says so; print_help() lists the table's options.
class OptionTable {
public:
    using Handler = std::function<bool(std::string_view value, std::string& error)>;

    // `command` as typed after "sctpt"; `summary` one line on what the command does.
    OptionTable(std::string command, std::string summary);

    // `value_name` shows the expected value in --help, e.g. "A[,B...]".
    void flag(std::string name, bool& target);
    void text(std::string name, std::string& target, std::string value_name = "TEXT");
    template <typename Number>
    void number(std::string name, Number& target, std::string value_name = "N") {
        const std::string label = name;
        add(std::move(name), true, std::move(value_name),
            [&target, label](std::string_view value, std::string& error) {
                const auto* end = value.data() + value.size();
                const auto [stop, result] = std::from_chars(value.data(), end, target);
                if (result != std::errc{} || stop != end) {
                    error = label + ": '" + std::string(value) + "' is not a valid number";
                    return false;
                }
                return true;
            });
    }
    // An option that may be given several times; each value is appended.
    void texts(std::string name, std::vector<std::string>& target, std::string value_name = "TEXT");
    // One bare word (no leading '-'), e.g. an operation; a second one is an error.
    void positional(std::string value_name, std::string& target);
    // Any number of bare words (e.g. file names), appended in order.
    void positionals(std::string value_name, std::vector<std::string>& target);
    // A non-negative number, e.g. "2.5".
    void decimal(std::string name, double& target, std::string value_name = "X");

    // Accepts "--name value" and "--name=value". On failure `error` says why.
    bool parse(int argc, char** argv, int first, std::string& error);
    bool help_requested() const { return help_requested_; }
    // Prints "usage: sctpt COMMAND ..." and every option on stdout; returns exit_success.
    int print_help() const;

private:
    struct Option {
        std::string name;
        bool takes_value;
        std::string value_name;
        Handler handle;
    };
    void add(std::string name, bool takes_value, std::string value_name, Handler handle);
    std::string command_;
    std::string summary_;
    std::vector<Option> options_;
    bool help_requested_ = false;
    std::string* positional_ = nullptr;
    std::vector<std::string>* positionals_ = nullptr;
    std::string positional_name_;
};

struct StackChoice {
    std::string stack = "auto";  // auto, kernel, usrsctp
    TimerOptions timers;
};

void add_stack_options(OptionTable& table, StackChoice& choice);

// --log 0-7 as in Xcluster's ovl/sctp sctpt (log.hpp); apply after parsing.
void add_log_option(OptionTable& table, int& level);
bool apply_log_option(int level, std::string& error);
bool validate_stack_options(const StackChoice& choice, std::string& error);

// auto: the kernel where socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) works, else usrsctp.
std::unique_ptr<Stack> open_stack(const StackChoice& choice, std::string& error);

// SIGINT and SIGTERM are blocked in every thread (the stacks' threads inherit the mask) and
// taken only by these calls.
void block_termination_signals();
bool termination_requested();  // consumes a pending SIGINT/SIGTERM
// Sleeps up to `milliseconds`; false if SIGINT/SIGTERM arrived meanwhile.
bool sleep_unless_terminated(int64_t milliseconds);

void print_usage(bool to_stdout);
void print_version();
int usage_error(const std::string& message);

}  // namespace sctpt
