//! Cutting the object into parts: big enough that requests are few, small enough that a
//! retry loses little and every connection stays busy until the end.

/// One byte range of the object, `start..end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub index: usize,
    pub start: u64,
    pub end: u64,
}

impl Part {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

const MIB: u64 = 1024 * 1024;
const MIN_PART: u64 = MIB;
const MAX_PART: u64 = 16 * MIB;
/// Keeps the resume state small however large the object.
const MAX_PARTS: u64 = 10_000;

/// The part size for an object of `size` bytes fetched over `connections` connections:
/// about four parts per connection, between 1 and 16 MiB, whole MiB, at most 10,000 parts.
pub fn part_size(size: u64, connections: usize) -> u64 {
    let per_connection = size.div_ceil(connections.max(1) as u64 * 4);
    let by_count = size.div_ceil(MAX_PARTS);
    per_connection
        .clamp(MIN_PART, MAX_PART)
        .max(by_count)
        .next_multiple_of(MIB)
}

/// The parts of an object of `size` bytes.
pub fn parts(size: u64, part_size: u64) -> Vec<Part> {
    let count = size.div_ceil(part_size) as usize;
    (0..count)
        .map(|index| {
            let start = index as u64 * part_size;
            Part {
                index,
                start,
                end: (start + part_size).min(size),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_object_exactly_once() {
        for size in [0, 1, MIB - 1, MIB, 5 * MIB + 3, 1 << 30, 5 << 40] {
            let part_size = part_size(size, 8);
            let parts = parts(size, part_size);
            assert!(
                parts.len() as u64 <= MAX_PARTS,
                "{size}: {} parts",
                parts.len()
            );
            let mut next = 0;
            for (i, part) in parts.iter().enumerate() {
                assert_eq!((part.index, part.start), (i, next), "size {size}");
                assert!(!part.is_empty() && part.len() <= part_size);
                next = part.end;
            }
            assert_eq!(next, size);
        }
    }

    #[test]
    fn part_size_keeps_connections_busy_and_requests_few() {
        assert_eq!(part_size(1 << 30, 8), 16 * MIB, "1 GiB: 64 parts of 16 MiB");
        assert_eq!(part_size(64 * MIB, 8), 2 * MIB, "four parts per connection");
        assert_eq!(part_size(100, 8), MIB, "never below 1 MiB");
        assert_eq!(
            part_size(5 << 40, 8),
            525 * MIB,
            "5 TiB: at most 10,000 parts"
        );
    }
}
