// NFQUEUE datagrams cut by the receive buffer (MSG_TRUNC): the packet id is
// read from what arrived, with every read bounded by the bytes received, so
// the packet gets a verdict of its own (lb/io/nfqueue.hpp).
#include "io/nfqueue.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstring>
#include <vector>

namespace sctplb {
namespace {

constexpr std::uint32_t kId = 0x01020304;

struct BuiltMessage {
    std::vector<std::byte> bytes;
    std::size_t packet_header_end = 0;  // offset just past the NFQA_PACKET_HDR attribute (unpadded)
};

// An NFQNL_MSG_PACKET message as the kernel builds it: `before` attributes
// (NFQA_MARK) ahead of NFQA_PACKET_HDR when asked, then a mark and a payload.
BuiltMessage packet_message(bool mark_first, std::uint16_t message_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET) {
    BuiltMessage built;
    built.bytes.resize(4096);
    nlmsghdr* message = mnl_nlmsg_put_header(built.bytes.data());
    message->nlmsg_type = message_type;
    auto* family = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(message, sizeof(nfgenmsg)));
    family->nfgen_family = AF_INET;
    family->version = NFNETLINK_V0;
    family->res_id = htons(3);
    if (mark_first) mnl_attr_put_u32(message, NFQA_MARK, htonl(7));
    nfqnl_msg_packet_hdr packet_header{};
    packet_header.packet_id = htonl(kId);
    packet_header.hw_protocol = htons(0x0800);
    packet_header.hook = 1;
    built.packet_header_end = message->nlmsg_len + NLA_HDRLEN + sizeof packet_header;
    mnl_attr_put(message, NFQA_PACKET_HDR, sizeof packet_header, &packet_header);
    if (!mark_first) mnl_attr_put_u32(message, NFQA_MARK, htonl(7));
    const std::vector<std::byte> payload(1500, std::byte{0x45});
    mnl_attr_put(message, NFQA_PAYLOAD, payload.size(), payload.data());
    built.bytes.resize(message->nlmsg_len);
    return built;
}

std::span<const std::byte> first(const BuiltMessage& built, std::size_t length) {
    return std::span<const std::byte>(built.bytes).first(std::min(length, built.bytes.size()));
}

TEST(NfQueueTruncatedDatagram, IdIsReadFromWhatArrived) {
    const BuiltMessage built = packet_message(false);
    // Cut anywhere after the packet header attribute: the id is there.
    for (const std::size_t cut : {built.packet_header_end, built.packet_header_end + 1, std::size_t{512}, built.bytes.size()}) {
        EXPECT_EQ(truncated_datagram_packet_id(first(built, cut)), std::optional<std::uint32_t>(kId)) << "cut at " << cut;
    }
}

TEST(NfQueueTruncatedDatagram, IdAfterOtherAttributesIsFound) {
    const BuiltMessage built = packet_message(true);
    EXPECT_EQ(truncated_datagram_packet_id(first(built, built.packet_header_end)), std::optional<std::uint32_t>(kId));
}

TEST(NfQueueTruncatedDatagram, CutBeforeTheWholeIdGivesNone) {
    const BuiltMessage built = packet_message(false);
    // Every cut that ends before the packet header attribute does: inside the
    // netlink header, the nfgenmsg, the attribute header or the id itself.
    for (std::size_t cut = 0; cut < built.packet_header_end; ++cut)
        EXPECT_EQ(truncated_datagram_packet_id(first(built, cut)), std::nullopt) << "cut at " << cut;
}

TEST(NfQueueTruncatedDatagram, OtherMessagesAndMalformedAttributesGiveNone) {
    const BuiltMessage error_message = packet_message(false, NLMSG_ERROR);
    EXPECT_EQ(truncated_datagram_packet_id(error_message.bytes), std::nullopt);

    // A zero attribute length must end the walk, not loop on the same spot.
    BuiltMessage zero_length = packet_message(true);
    const std::size_t first_attribute = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
    std::memset(zero_length.bytes.data() + first_attribute, 0, 2);
    EXPECT_EQ(truncated_datagram_packet_id(zero_length.bytes), std::nullopt);

    // An attribute claiming more bytes than arrived is not read past the end.
    BuiltMessage overlong = packet_message(true);
    const std::uint16_t huge = 0xfff0;
    std::memcpy(overlong.bytes.data() + first_attribute, &huge, sizeof huge);
    EXPECT_EQ(truncated_datagram_packet_id(first(overlong, 256)), std::nullopt);

    // A packet header attribute too short to hold an id.
    BuiltMessage short_header = packet_message(false);
    const std::uint16_t three = NLA_HDRLEN + 3;
    std::memcpy(short_header.bytes.data() + first_attribute, &three, sizeof three);
    EXPECT_EQ(truncated_datagram_packet_id(short_header.bytes), std::nullopt);
}

}  // namespace
}  // namespace sctplb
