// A C# client of a segment made by the Rust `writer` example: the generated
// MySharedData.cs over a memory-mapped view of /dev/shm/NAME, no Rust anywhere.
// Build: mcs -unsafe -out:read.exe ReadMySharedData.cs ../MySharedData.cs
// Usage: mono read.exe NAME [--pause]. Prints what it finds; exit 1 on
// error. With --pause it prints `checked` after the check and waits for a
// line on stdin before reading (tests change the segment there).
using System;
using System.IO;
using System.IO.MemoryMappedFiles;
using Shm.Schemas;

static unsafe class ReadMySharedData
{
    static int Fail(string name, string why)
    {
        Console.Error.WriteLine(name + ": " + why);
        return 1;
    }

    static int Main(string[] args)
    {
        if (args.Length < 1 || args.Length > 2 || (args.Length == 2 && args[1] != "--pause"))
        {
            Console.Error.WriteLine("usage: read.exe NAME [--pause]");
            return 2;
        }
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
                // Checked once; the reader keeps the header it checked and
                // reads only at its offsets.
                MySharedData.Reader reader;
                string err = MySharedData.Reader.Check(p, len, out reader);
                if (err != null) return Fail(name, err);
                if (args.Length == 2)
                {
                    Console.WriteLine("checked");
                    Console.Out.Flush();
                    Console.In.ReadLine();
                }
                MySharedData v;
                ulong version;
                if (!reader.TryRead(out v, out version, 10000000))
                    return Fail(name, "no complete copy of the payload (a damaged segment)");
                var h = reader.Header;
                var magic = new char[7];
                for (int i = 0; i < 7; i++) magic[i] = (char)h.magic[i];
                var schema = new System.Text.StringBuilder();
                for (int i = 0; i < 48 && h.schema_name[i] != 0; i++) schema.Append((char)h.schema_name[i]);
                Console.WriteLine("magic=" + new string(magic));
                Console.WriteLine("fingerprint=0x" + h.fingerprint.ToString("x16"));
                Console.WriteLine("schema=" + schema + " v" + h.schema_version);
                Console.WriteLine("value=" + v.value);
                Console.WriteLine("letter=" + v.letter); // a C# char (Utf16 in the schema)
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
