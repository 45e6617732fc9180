internal import Foundation
internal import HTTPTypes
internal import NIOCore
internal import NIOHTTPTypes

/// The time bounds of one request (Docs/service.md, "Bounds"), in the connection's channel
/// pipeline after HTTP decoding, so that they hold however the route reads the body:
///
/// - the body must arrive within `bodyTimeout` of the request head;
/// - once `gracePeriod` has passed since the head, a body still arriving must average at least
///   `minimumBodyRate` bytes a second since the head (a client trickling bytes is cut off
///   long before the body deadline);
/// - the answer must be written within `requestTimeout` of the head.
///
/// A request past a bound is answered `408` (`request_timeout`, when no answer has started)
/// and its connection closed; the route, still waiting for the body, sees it end and evaluates
/// nothing. (An evaluation already running when the request deadline passes still finishes and
/// is stored in the ledger: the member's retry with the same request id gets it uncharged.)
///
/// The request head itself is bounded by Hummingbird's idle timeout, which runs until a whole
/// head is decoded, however slowly its bytes arrive.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Bounds: Sendable {
        var bodyTimeout: TimeAmount
        var requestTimeout: TimeAmount
        /// Bytes a second; 0 checks no rate.
        var minimumBodyRate: Int
        var gracePeriod: TimeAmount = .seconds(1)
        var checkInterval: TimeAmount = .milliseconds(100)
    }

    let bounds: Bounds
    /// Called once per request cut off, with the refusal code and the reason (for metrics and logs).
    let onCutOff: @Sendable (String, String) -> Void
    private var started: NIODeadline?
    private var bodyBytes = 0
    private var bodyEnded = false
    private var answerStarted = false
    private var check: Scheduled<Void>?

    init(bounds: Bounds, onCutOff: @escaping @Sendable (String, String) -> Void) {
        self.bounds = bounds
        self.onCutOff = onCutOff
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            started = .now()
            bodyBytes = 0
            bodyEnded = false
            answerStarted = false
            schedule(context)
        case .body(let buffer):
            bodyBytes += buffer.readableBytes
        case .end:
            bodyEnded = true
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: answerStarted = true
        case .end: stop()
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { stop() }

    private func stop() {
        check?.cancel()
        check = nil
        started = nil
    }

    private func schedule(_ context: ChannelHandlerContext) {
        check?.cancel()
        check = context.eventLoop.assumeIsolated().scheduleTask(in: bounds.checkInterval) { [self] in
            self.check = nil
            self.inspect(context)
        }
    }

    /// Cuts the request off if it is past a bound, else checks again later.
    private func inspect(_ context: ChannelHandlerContext) {
        guard let started else { return }
        let elapsed = NIODeadline.now() - started
        let seconds = Double(elapsed.nanoseconds) / 1e9
        var violation: String?
        if !bodyEnded, elapsed > bounds.bodyTimeout {
            violation = "the body did not arrive within \(Self.text(bounds.bodyTimeout)) (\(bodyBytes) bytes came)"
        } else if !bodyEnded, bounds.minimumBodyRate > 0, elapsed > bounds.gracePeriod, Double(bodyBytes) < Double(bounds.minimumBodyRate) * seconds {
            violation = "the body arrived at \(Int(Double(bodyBytes) / seconds)) bytes a second; at least \(bounds.minimumBodyRate) are required"
        } else if elapsed > bounds.requestTimeout {
            violation = "the request was not answered within \(Self.text(bounds.requestTimeout))"
        }
        guard let violation else { return schedule(context) }
        stop()
        onCutOff("request_timeout", violation)
        if !answerStarted {
            let body = (try? JSONSerialization.data(withJSONObject: ["error": "request_timeout", "reason": violation], options: [.sortedKeys])) ?? Data()
            let head = HTTPResponse(status: .requestTimeout, headerFields: [.contentType: "application/json", .connection: "close",
                                                                             .contentLength: String(body.count)])
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
        context.close(promise: nil)
    }

    static func text(_ d: TimeAmount) -> String { "\(d.nanoseconds / 1_000_000_000) s" }
}
