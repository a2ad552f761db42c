// A real mosquitto for the MQTT tests: started on free 127.0.0.1 ports with a
// generated configuration, stopped when the test program ends (also when it
// crashes: the broker is killed with its parent).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "support/helpers.hpp"

namespace nqtest {

class Broker {
 public:
  // Picks free ports and writes the configuration; does not start. Listens
  // on `address` (127.0.0.1; a test in a private network namespace may take
  // 0.0.0.0, which nothing outside reaches).
  explicit Broker(std::string address = "127.0.0.1");
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Starts mosquitto (again, on the same ports after kill()) and waits until
  // it accepts connections; throws with its log when it does not.
  void start();
  // SIGKILL: the broker vanishes as a crashed one would.
  void kill();
  bool running() const { return pid_ > 0; }

  std::uint16_t port() const { return port_; }
  std::uint16_t tls_port() const { return tls_port_; }
  // A TLS listener that requires a client certificate signed by ca.pem.
  std::uint16_t mutual_tls_port() const { return mutual_tls_port_; }
  std::string log() const;

  // The one broker of this test program, started on first use.
  static Broker& shared();

 private:
  // Picks free ports and writes mosquitto.conf for them.
  void configure();
  // One attempt: true when it listens; false when another process took a
  // port between free_port() and mosquitto's bind.
  bool launch();

  std::string address_;
  std::string dir_;
  std::uint16_t port_ = 0;
  std::uint16_t tls_port_ = 0;
  std::uint16_t mutual_tls_port_ = 0;
  pid_t pid_ = -1;
  bool listened_ = false;  // once clients know the ports, they stay
};

// A port on 127.0.0.1 where nothing listens (just freed by the kernel).
std::uint16_t free_port();

// The fixture of the "mqtt" and "mqtt_tls" cases: every endpoint is the broker.
class MqttFixture : public Fixture {
 public:
  explicit MqttFixture(Broker& (*broker)() = &Broker::shared) : broker_(broker) {}
  netqueue::Options server_options(const TransportCase& c) override;
  Endpoint endpoint_of(const TransportCase& c, const netqueue::Communicator& server) override;
  Endpoint reserve(const TransportCase& c) override;
  netqueue::Options server_options_at(const TransportCase& c, const Endpoint& where) override;
  Endpoint unreachable(const TransportCase& c) override;
  netqueue::Options client_options(const TransportCase& c, const Endpoint& server) override;

 private:
  Endpoint broker_endpoint(const TransportCase& c);
  Broker& (*broker_)();
};

}  // namespace nqtest
