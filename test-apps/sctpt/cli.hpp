// Command-line plumbing shared by the sctpt commands: option tables, the stack options, stack
// selection and signal handling.
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "stack.hpp"

namespace sctpt {

constexpr int exit_success = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

class OptionTable {
public:
    using Handler = std::function<bool(std::string_view value, std::string& error)>;

    void flag(std::string name, bool& target);
    void text(std::string name, std::string& target);
    template <typename Number>
    void number(std::string name, Number& target) {
        const std::string label = name;
        add(std::move(name), true, [&target, label](std::string_view value, std::string& error) {
            const auto* end = value.data() + value.size();
            const auto [stop, result] = std::from_chars(value.data(), end, target);
            if (result != std::errc{} || stop != end) {
                error = label + ": '" + std::string(value) + "' is not a valid number";
                return false;
            }
            return true;
        });
    }
    void decimal(std::string name, double& target);  // a non-negative number, e.g. "2.5"

    // Accepts "--name value" and "--name=value". On failure `error` says why.
    bool parse(int argc, char** argv, int first, std::string& error) const;

private:
    struct Option {
        std::string name;
        bool takes_value;
        Handler handle;
    };
    void add(std::string name, bool takes_value, Handler handle);
    std::vector<Option> options_;
};

struct StackChoice {
    std::string stack = "auto";  // auto, kernel, usrsctp
    TimerOptions timers;
};

void add_stack_options(OptionTable& table, StackChoice& choice);
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
int usage_error(const std::string& message);

}  // namespace sctpt
