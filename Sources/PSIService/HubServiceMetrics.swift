internal import Prometheus
import Foundation

/// The service's Prometheus metrics (GET /metrics). Labels never hold items, keys or ids
/// beyond the route, the status code and the refusal reason.
final class HubServiceMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let itemsEvaluated: Counter
    let evaluationsInFlight: Gauge

    init() {
        itemsEvaluated = registry.makeCounter(name: "psi_items_evaluated_total", help: "Request items evaluated (charged answers only)")
        evaluationsInFlight = registry.makeGauge(name: "psi_evaluations_in_flight", help: "Evaluations running now")
    }

    func request(route: String, status: Int, duration: Duration) {
        registry.makeCounter(name: "psi_http_requests_total", labels: [("route", route), ("status", String(status))],
                             help: "HTTP requests by route and status").increment()
        registry.makeDurationHistogram(name: "psi_http_request_duration_seconds", labels: [("route", route)],
                                       buckets: [.milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
                                                 .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30)],
                                       help: "HTTP request latency by route").record(duration)
    }

    func refusal(_ reason: String) {
        registry.makeCounter(name: "psi_refusals_total", labels: [("reason", reason)], help: "Refused requests by reason").increment()
    }

    func exposition() -> [UInt8] {
        var buffer = [UInt8]()
        registry.emit(into: &buffer)
        return buffer
    }
}
