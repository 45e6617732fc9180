import Hummingbird
import HummingbirdTLS
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import SQLiteNIO
import PostgresNIO
import AsyncHTTPClient
import SodiumPSI

public enum PSIServiceVersion { public static let api = "v1" }
