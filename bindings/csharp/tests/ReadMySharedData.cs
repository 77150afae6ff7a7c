// A C# client of a segment made by the Rust `writer` example: the generated
// MySharedData.cs over a memory-mapped view of /dev/shm/NAME, no Rust anywhere.
// Build: mcs -unsafe -out:read.exe ReadMySharedData.cs ../MySharedData.cs
// Usage: mono read.exe NAME. Prints what it finds; exit 1 on error.
using System;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Threading;
using Shm.Schemas;

static unsafe class ReadMySharedData
{
    static int Fail(string name, string why)
    {
        Console.Error.WriteLine(name + ": " + why);
        return 1;
    }

    // One attempt at a consistent copy of one copy of the payload: its
    // counter `seq` even and unchanged around the copy (an acquire read
    // before it, a full fence and a second read after it); s1 / 2 would be
    // the value's version (the number of the write that produced it).
    static bool TryCopy(ulong* seq, byte* copy, out MySharedData value)
    {
        value = default(MySharedData);
        ulong s1 = Volatile.Read(ref *seq);
        if ((s1 & 1) != 0) return false;
        value = *(MySharedData*)copy;
        Thread.MemoryBarrier();
        return Volatile.Read(ref *seq) == s1;
    }

    static int Main(string[] args)
    {
        if (args.Length != 1) { Console.Error.WriteLine("usage: read.exe NAME"); return 2; }
        string name = args[0].TrimStart('/');
        string path = "/dev/shm/" + name;
        long len;
        try { len = new FileInfo(path).Length; }
        catch (Exception e) { return Fail(name, e.Message); }
        if (len < MySharedData.SegmentHeader.HeaderSize)
            return Fail(name, "smaller than the segment header");
        using (var file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read))
        using (var view = file.CreateViewAccessor(0, len, MemoryMappedFileAccess.Read))
        {
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            try
            {
                var h = (MySharedData.SegmentHeader*)p;
                for (int i = 0; i < 8; i++)
                    if (h->magic[i] != (byte)MySharedData.SegmentHeader.Magic[i])
                        return Fail(name, "not a typed shared-memory segment (wrong magic)");
                if (Volatile.Read(ref h->state) != MySharedData.SegmentHeader.StateReady)
                    return Fail(name, "the segment is not initialised");
                if (h->fingerprint != MySharedData.Fingerprint)
                    return Fail(name, "the segment holds another schema (its fingerprint differs)");
                if (h->payload_size != (ulong)MySharedData.Size || h->payload_offset + h->payload_size > (ulong)len)
                    return Fail(name, "the segment's payload lies outside the object");
                if (h->backup_offset % 8 != 0 || h->backup_offset < h->payload_offset + h->payload_size
                    || h->backup_offset + h->payload_size > (ulong)len)
                    return Fail(name, "the backup copy of the segment's payload is misplaced or lies outside the object");
                // The two-copy protocol of docs/FORMAT.md ("Concurrency
                // protocol"): the primary copy, else the backup copy, which
                // holds the previous write's value while the primary is
                // written. It never waits for a writer.
                MySharedData v = default(MySharedData);
                for (int tries = 0; ; tries++)
                {
                    if (tries > 10000000) return Fail(name, "no complete copy of the payload (a damaged segment)");
                    if (TryCopy(&h->seq, p + h->payload_offset, out v)) break;
                    if (TryCopy(&h->backup_seq, p + h->backup_offset, out v)) break;
                }
                var magic = new char[7];
                for (int i = 0; i < 7; i++) magic[i] = (char)h->magic[i];
                var schema = new System.Text.StringBuilder();
                for (int i = 0; i < 48 && h->schema_name[i] != 0; i++) schema.Append((char)h->schema_name[i]);
                Console.WriteLine("magic=" + new string(magic));
                Console.WriteLine("fingerprint=0x" + h->fingerprint.ToString("x16"));
                Console.WriteLine("schema=" + schema + " v" + h->schema_version);
                Console.WriteLine("value=" + v.value);
                Console.WriteLine("letter=" + (char)v.letter);
                Console.WriteLine("numbers[10]=" + v.numbers[10].ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
                return 0;
            }
            finally
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
            }
        }
    }
}
