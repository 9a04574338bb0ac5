// Associations as a layout-independent JSON document, so a table can move
// across an upgrade that changes the shared-memory layout:
//   sctplb assoc --export FILE   (old sctplb)  then  delete, init,
//   sctplb assoc --import FILE   (new sctplb).
//
// Document: {"format":"sctplb-associations","version":1,
//            "exported_monotonic_ns":N,"associations":[{...}, ...]}
// Times are CLOCK_MONOTONIC readings of the exporting host; an importer
// re-bases them on its own clock (rebase_times) so ages and idle times carry
// over even across a reboot. Tags are "0x%08x" strings, addresses text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/association_table.hpp"
#include "io/shared_state.hpp"

namespace sctplb {

inline constexpr std::string_view kExportFormat = "sctplb-associations";
inline constexpr int kExportVersion = 1;

struct AssociationExport {
    std::int64_t exported_monotonic_ns = 0;
    std::vector<Association> associations;
};

// Every field an association needs to continue (not the slot-internal
// next_free / generation).
[[nodiscard]] nlohmann::ordered_json association_to_json(const Association& association);
// nullopt with a one-line `error` naming the bad field.
[[nodiscard]] std::optional<Association> association_from_json(const nlohmann::json& object,
                                                                std::string& error);

[[nodiscard]] std::string export_document(const AssociationExport& exported);
[[nodiscard]] std::optional<AssociationExport> parse_export_document(std::string_view text,
                                                                     std::string& error);

// Why `exported` must not be imported into a segment with `targets` and
// `restart_linger`: "association I: FIELD ..." naming the first bad record;
// nullopt when every record may go in. Checked before anything is imported,
// so a refused import changes nothing. Each record needs:
//  - "fwmark": an Active or Draining target (0, a Down target or no target
//    would route the association nowhere, and no command removes it);
//  - non-zero tags: "tc" when half-open, "ts" otherwise, "pending_tc" when
//    restart-pending (the data path never writes a zero tag there);
//  - "created_ns", "last_seen_ns", "state_since_ns" in 0..exported_monotonic_ns
//    (a time after the export would never expire), and "old_tags_until_ns"
//    no later than the export plus `restart_linger`.
[[nodiscard]] std::optional<std::string> import_refusal(const AssociationExport& exported,
                                                        const TargetSnapshot& targets, Nanos restart_linger);

// Writes the document to a new DIR/.FILE.XXXXXX (O_EXCL|O_NOFOLLOW, mode 0600:
// tags let anyone inject into an association), fsyncs it and renames it over
// FILE, then fsyncs DIR: a reader never sees half a document, and a failure
// leaves no temporary file. An existing FILE must be a regular file or a
// symlink (replaced, not followed); a device, FIFO or directory is refused
// with "FILE is not a regular file".
[[nodiscard]] bool write_export_file(const std::string& path, const AssociationExport& exported,
                                     std::string& error);
// Refuses anything but a regular file (a FIFO without blocking on it) and
// files larger than export_size_limit(table_capacity), each with a one-line error.
[[nodiscard]] std::optional<AssociationExport> read_export_file(const std::string& path,
                                                                std::uint32_t table_capacity,
                                                                std::string& error);
// The largest export a table of `table_capacity` associations reads: twice
// the widest record (room for re-indenting) per association, plus slack.
[[nodiscard]] std::size_t export_size_limit(std::uint32_t table_capacity);

// Shifts every time of `association` by (now - exported_at); unset times (0) stay 0.
void rebase_times(Association& association, std::int64_t exported_at_ns, std::int64_t now_ns);

// "0x%08x".
[[nodiscard]] std::string tag_hex(std::uint32_t tag);

}  // namespace sctplb
