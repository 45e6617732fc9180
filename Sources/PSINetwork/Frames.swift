import NIOCore

/// One frame of `psi exchange` (Docs/protocol.md, "Over the network"): a type byte, the
/// payload's length (4 bytes, big-endian) and the payload, at most ``maximumPayload`` bytes.
struct Frame: Sendable {
    enum Kind: UInt8, Sendable {
        case hello = 1, auth = 2, offer = 3, want = 4, data = 5, end = 6, ack = 7, ping = 8, refusal = 9
    }

    /// A data frame carries at most this many bytes of a message.
    static let chunkSize = 64 * 1024
    static let maximumPayload = chunkSize + 64

    let kind: Kind
    let payload: ByteBuffer

    init(_ kind: Kind, _ payload: ByteBuffer = ByteBuffer()) {
        self.kind = kind
        self.payload = payload
    }

    init(_ kind: Kind, bytes: [UInt8]) {
        self.init(kind, ByteBuffer(bytes: bytes))
    }

    var bytes: [UInt8] { Array(payload.readableBytesView) }

    /// A refusal: the reason code, then the reason in words (UTF-8), cut to fit one frame.
    static func refusal(_ reason: RefusalReason, _ detail: String) -> Frame {
        Frame(.refusal, bytes: [reason.rawValue] + Array(detail.utf8.prefix(4096)))
    }

    /// The error a refusal frame stands for on the refused side.
    var refusalError: ExchangeError {
        let bytes = self.bytes
        let reason = bytes.first.flatMap(RefusalReason.init(rawValue:)) ?? .unspecified
        return .peerRefused(reason: reason, detail: String(decoding: bytes.dropFirst(), as: UTF8.self))
    }
}

struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= 5,
              let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self) else { return .needMoreData }
        guard let kind = Frame.Kind(rawValue: type) else {
            throw ExchangeError.protocolViolation(reason: "a frame of unknown type \(type)")
        }
        guard length <= Frame.maximumPayload else {
            throw ExchangeError.protocolViolation(reason: "a frame of \(length) bytes (at most \(Frame.maximumPayload))")
        }
        guard buffer.readableBytes >= 5 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 5)
        let payload = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(wrapInboundOut(Frame(kind, payload)))
        return .continue
    }
}

struct FrameEncoder: MessageToByteEncoder {
    typealias OutboundIn = Frame

    func encode(data: Frame, out: inout ByteBuffer) throws {
        out.writeInteger(data.kind.rawValue)
        out.writeInteger(UInt32(data.payload.readableBytes))
        out.writeImmutableBuffer(data.payload)
    }
}
