#include "stack.hpp"

namespace sctpt {

const char* association_change_name(AssociationChange change) {
    switch (change) {
        case AssociationChange::up: return "COMM_UP";
        case AssociationChange::restart: return "RESTART";
        case AssociationChange::lost: return "COMM_LOST";
        case AssociationChange::shutdown_complete: return "SHUTDOWN_COMP";
        case AssociationChange::cannot_start: return "CANT_STR_ASSOC";
        case AssociationChange::other: break;
    }
    return "OTHER";
}

}  // namespace sctpt
