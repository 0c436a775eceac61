#pragma once

// Registers the project's message types with CAF, so that the same names identify them on
// every node of a cluster. Include only where the actor system is configured.

#include "protocol/ids.hpp"
#include "protocol/types.hpp"

#include <caf/type_id.hpp>

CAF_BEGIN_TYPE_ID_BLOCK(chatagent, caf::first_custom_type_id)
CAF_ADD_TYPE_ID(chatagent, (chatagent::protocol::user_id))
CAF_ADD_TYPE_ID(chatagent, (chatagent::protocol::role))
CAF_ADD_TYPE_ID(chatagent, (chatagent::protocol::user))
CAF_ADD_TYPE_ID(chatagent, (chatagent::protocol::registration))
CAF_END_TYPE_ID_BLOCK(chatagent)
