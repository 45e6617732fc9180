public import Foundation

/// A throwaway self-signed TLS certificate for a hub service on loopback (tests, the benchmark):
/// `tls.crt` and `tls.key` (P-256, for `localhost` and 127.0.0.1, valid two days) made in
/// `folder` by openssl. Never for a deployed hub, whose certificate comes from the alliance's CA.
public enum LoopbackCertificate {
    /// Makes `tls.crt` and `tls.key` in `folder`.
    ///
    /// - Throws: ``HubServiceError/invalidConfiguration(path:reason:)`` when openssl fails.
    public static func make(in folder: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                             "-keyout", folder.appendingPathComponent("tls.key").path, "-out", folder.appendingPathComponent("tls.crt").path,
                             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HubServiceError.invalidConfiguration(path: folder.path, reason: "openssl could not make a loopback test certificate")
        }
    }
}
