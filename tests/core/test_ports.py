"""Free-port picking: distinct ports, never one a configured port already names."""

from ticket_classifier.server import ServerConfig, TritonServer, free_ports, port_is_free


def test_free_ports_are_distinct_and_free():
    for _ in range(200):
        ports = free_ports(4)
        assert len(set(ports)) == 4
        assert all(port_is_free(port, "127.0.0.1") for port in ports)


def test_unassigned_ports_avoid_the_configured_ones(tmp_path):
    for _ in range(50):
        health, metrics = free_ports(2)
        server = TritonServer(
            tmp_path, ServerConfig(http_port=0, grpc_port=0, metrics_port=metrics, health_port=health)
        )
        server._assign_and_check_ports()
        ports = [server.config.http_port, server.config.grpc_port, metrics, health]
        assert len(set(ports)) == 4 and 0 not in ports
