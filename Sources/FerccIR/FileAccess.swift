import Foundation

/// The bytes of the file at `path`, or nil when it cannot be read. An empty regular file gives
/// empty data without reading it: Foundation's `contents(atPath:)` leaks the 4 KiB buffer it
/// reads an empty file into (LeakSanitizer, Swift 6.3's Foundation; `scripts/sanitize`).
public func readFileContents(_ path: String) -> Data? {
    if let attributes = try? FileManager.default.attributesOfItem(atPath: path),
        attributes[.type] as? FileAttributeType == .typeRegular, (attributes[.size] as? NSNumber)?.intValue == 0
    {
        return Data()
    }
    return FileManager.default.contents(atPath: path)
}
