// MQTT transport through a broker (Eclipse Paho MQTT C++).
#pragma once

#include "core/transport.hpp"

namespace netqueue::detail {

extern const TransportInfo mqtt_transport;

}  // namespace netqueue::detail
