//! Three versions of one schema, `Sensor`, as a long-running system would
//! ship them one after the other (used by the `sensor` example and the
//! evolution tests):
//!
//! - [`SensorV1`] reserves room to grow (`capacity = 1024`);
//! - [`SensorV2`] extends it with humidity and pressure. Its new fields do
//!   not depend on the old ones, so it lets version-1 programs keep writing
//!   (`older_writers`): they change their fields and leave the new ones as
//!   they are;
//! - [`SensorV3`] extends version 2 with a checksum over *all* the fields,
//!   which an older writer would leave stale, so it does not let older
//!   programs write (they can still read);
//! - [`SensorIncompatible`] is what happens when a field's type changes
//!   without `extends`: the derive cannot object (it does not know the
//!   struct is meant to be a new version), but opening a `Sensor` segment
//!   with it fails, naming the field.
//!
//! Every version carries checksums, so that a reader can tell a torn or
//! mixed snapshot: [`SensorV1::checksum`] over the version-1 fields,
//! [`SensorV2::extra_checksum`] over the fields version 2 added,
//! [`SensorV3::total_checksum`] over everything.

use shm_runtime::SharedLayout;

/// Mixes `x` into the running checksum `h`.
const fn mix(h: u64, x: u64) -> u64 {
    (h ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29)
}

/// Version 1 of the sensor record.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Sensor", version = 1, size = 64, capacity = 1024)]
pub struct SensorV1 {
    /// The writer's count of its writes.
    pub seq: u64,
    /// Schema version of the program that wrote this snapshot.
    pub writer_version: u32,
    /// Explicit padding.
    pub _pad: [u8; 4],
    /// Degrees Celsius.
    pub temperature: f64,
    /// Raw samples.
    pub samples: [f32; 8],
    /// [`SensorV1::checksum_of_fields`] of the fields above.
    pub checksum: u64,
}

impl SensorV1 {
    /// The snapshot a writer of schema version `writer_version` writes as
    /// its `seq`-th write.
    pub fn sample(seq: u64, writer_version: u32) -> SensorV1 {
        let mut v = SensorV1 {
            seq,
            writer_version,
            _pad: [0; 4],
            temperature: seq as f64 * 0.25,
            samples: std::array::from_fn(|i| (seq + i as u64) as f32),
            checksum: 0,
        };
        v.checksum = v.checksum_of_fields();
        v
    }

    /// The checksum of every field but `checksum`.
    pub fn checksum_of_fields(&self) -> u64 {
        let mut h = mix(0, self.seq);
        h = mix(h, u64::from(self.writer_version));
        h = mix(h, self.temperature.to_bits());
        for s in self.samples {
            h = mix(h, u64::from(s.to_bits()));
        }
        h
    }

    /// Whether `checksum` matches the other fields.
    pub fn is_intact(&self) -> bool {
        self.checksum == self.checksum_of_fields()
    }
}

/// Version 2: humidity and pressure. Version-1 programs may write a
/// segment that holds it (they write their fields; these keep their values).
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(version = 2, extends = SensorV1, size = 88, capacity = 1024, older_writers)]
pub struct SensorV2 {
    /// The writer's count of its writes.
    pub seq: u64,
    /// Schema version of the program that wrote the version-1 fields.
    pub writer_version: u32,
    /// Explicit padding.
    pub _pad: [u8; 4],
    /// Degrees Celsius.
    pub temperature: f64,
    /// Raw samples.
    pub samples: [f32; 8],
    /// Checksum of the version-1 fields.
    pub checksum: u64,
    /// Relative humidity, percent.
    pub humidity: f64,
    /// Hectopascal.
    pub pressure: f64,
    /// Checksum of `humidity` and `pressure` only, so that a version-1
    /// writer, which does not touch them, cannot make it stale.
    pub extra_checksum: u64,
}

impl SensorV2 {
    /// The snapshot a writer of schema version `writer_version` (2 or more)
    /// writes as its `seq`-th write.
    pub fn sample(seq: u64, writer_version: u32) -> SensorV2 {
        let old = SensorV1::sample(seq, writer_version);
        let humidity = (seq % 100) as f64;
        let pressure = 1000.0 + seq as f64;
        SensorV2 {
            seq: old.seq,
            writer_version: old.writer_version,
            _pad: old._pad,
            temperature: old.temperature,
            samples: old.samples,
            checksum: old.checksum,
            humidity,
            pressure,
            extra_checksum: Self::extra_of(humidity, pressure),
        }
    }

    fn extra_of(humidity: f64, pressure: f64) -> u64 {
        mix(mix(0x5e, humidity.to_bits()), pressure.to_bits())
    }

    /// The version-1 fields.
    pub fn v1(&self) -> SensorV1 {
        SensorV1 {
            seq: self.seq,
            writer_version: self.writer_version,
            _pad: self._pad,
            temperature: self.temperature,
            samples: self.samples,
            checksum: self.checksum,
        }
    }

    /// Whether both checksums match their fields.
    pub fn is_intact(&self) -> bool {
        self.v1().is_intact() && self.extra_checksum == Self::extra_of(self.humidity, self.pressure)
    }
}

/// Version 3: a status word and a checksum over everything, which an older
/// writer would leave stale, so older programs may only read it.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(version = 3, extends = SensorV2, size = 104, capacity = 1024)]
pub struct SensorV3 {
    /// The writer's count of its writes.
    pub seq: u64,
    /// Schema version of the program that wrote this snapshot.
    pub writer_version: u32,
    /// Explicit padding.
    pub _pad: [u8; 4],
    /// Degrees Celsius.
    pub temperature: f64,
    /// Raw samples.
    pub samples: [f32; 8],
    /// Checksum of the version-1 fields.
    pub checksum: u64,
    /// Relative humidity, percent.
    pub humidity: f64,
    /// Hectopascal.
    pub pressure: f64,
    /// Checksum of `humidity` and `pressure`.
    pub extra_checksum: u64,
    /// Status bits.
    pub status: u32,
    /// Explicit padding.
    pub _pad2: [u8; 4],
    /// Checksum of all the fields above.
    pub total_checksum: u64,
}

impl SensorV3 {
    /// The snapshot a writer of schema version 3 writes as its `seq`-th write.
    pub fn sample(seq: u64) -> SensorV3 {
        let old = SensorV2::sample(seq, 3);
        let mut v = SensorV3 {
            seq: old.seq,
            writer_version: old.writer_version,
            _pad: old._pad,
            temperature: old.temperature,
            samples: old.samples,
            checksum: old.checksum,
            humidity: old.humidity,
            pressure: old.pressure,
            extra_checksum: old.extra_checksum,
            status: seq as u32 & 0xff,
            _pad2: [0; 4],
            total_checksum: 0,
        };
        v.total_checksum = v.total_of();
        v
    }

    fn total_of(&self) -> u64 {
        mix(
            mix(mix(0x3, self.checksum), self.extra_checksum),
            u64::from(self.status),
        )
    }

    /// The version-2 fields.
    pub fn v2(&self) -> SensorV2 {
        SensorV2 {
            seq: self.seq,
            writer_version: self.writer_version,
            _pad: self._pad,
            temperature: self.temperature,
            samples: self.samples,
            checksum: self.checksum,
            humidity: self.humidity,
            pressure: self.pressure,
            extra_checksum: self.extra_checksum,
        }
    }

    /// Whether all three checksums match their fields.
    pub fn is_intact(&self) -> bool {
        self.v2().is_intact() && self.total_checksum == self.total_of()
    }
}

/// `Sensor` with `seq` narrowed to `u32`: not an extension of version 1,
/// and so it does not (and could not) say `extends`. Opening a `Sensor`
/// segment with it fails with `LayoutMismatch`, naming `seq`.
#[derive(SharedLayout, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
#[shm(name = "Sensor", version = 4)]
pub struct SensorIncompatible {
    /// Narrowed from `u64`.
    pub seq: u32,
    /// Schema version of the writer.
    pub writer_version: u32,
    /// Degrees Celsius.
    pub temperature: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_intact_and_versions_nest() {
        assert!(SensorV1::sample(7, 1).is_intact());
        assert!(SensorV2::sample(7, 2).is_intact());
        assert!(SensorV3::sample(7).is_intact());
        assert_eq!(SensorV3::sample(7).v2().v1(), SensorV1::sample(7, 3));
        let mut torn = SensorV2::sample(7, 2);
        torn.temperature = 9.0;
        assert!(!torn.is_intact());
        assert_eq!(SensorV1::LAYOUT.name, "Sensor");
        assert_eq!(SensorV3::LAYOUT.name, "Sensor");
        assert_eq!(SensorV3::LAYOUT.fields[..9], SensorV2::LAYOUT.fields[..]);
    }
}
