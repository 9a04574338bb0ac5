// The netlink transport of nf_tables: one socket, batches with an error per message, dump and get requests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace sctplb::nft {

std::string errno_text(int code);

// BEGIN, messages, END in one buffer; every message has its own sequence
// number so that the kernel's errors can be matched to it.
struct Batch {
    explicit Batch(std::uint32_t first_sequence);
    // A message header at the tail, `bytes` of room for it.
    nlmsghdr* header(std::uint16_t type, std::uint16_t flags, std::string label, std::size_t bytes = 16384);
    void commit(nlmsghdr* header);
    void finish();
    [[nodiscard]] std::size_t messages() const { return sequences.size(); }

    // libnftnl writes without bounds: `bytes` must cover the largest message.
    char* room(std::size_t bytes);

    std::vector<char> buffer;
    std::size_t used = 0;
    std::uint32_t begin_sequence;
    std::uint32_t next_sequence;
    std::vector<std::uint32_t> sequences;
    std::vector<std::string> labels;
};

// One NETLINK_NETFILTER socket (libmnl). Not thread-safe; one per thread.
class Netlink {
public:
    static std::optional<Netlink> open(std::string& error);
    Netlink(Netlink&&) noexcept;
    Netlink& operator=(Netlink&&) noexcept;
    Netlink(const Netlink&) = delete;
    Netlink& operator=(const Netlink&) = delete;
    ~Netlink();

    // Sends one batch; fills `errors` (one per message, 0 = no error reported).
    // False when the socket failed.
    bool send_batch(Batch& batch, std::vector<int>& errors, std::string& error);
    // send_batch(), and false + error "<context>: <label>: <errno text>" for the first message refused.
    bool send_batch_checked(Batch& batch, const std::string& context, std::string& error);
    // One request (a dump or a get) with a callback per reply message; returns
    // 0 or the errno of the kernel's answer, -1 when the socket failed.
    int request(std::vector<char>& message, const std::function<void(const nlmsghdr*)>& on_message,
                std::string& error);
    std::uint32_t next_sequence() { return sequence_++; }

private:
    struct SocketCloser {
        void operator()(mnl_socket* socket) const;
    };
    explicit Netlink(mnl_socket* socket);

    std::unique_ptr<mnl_socket, SocketCloser> socket_;
    std::uint32_t port_id_ = 0;
    std::uint32_t sequence_ = 1;
    std::vector<char> receive_buffer_;
};

}  // namespace sctplb::nft
