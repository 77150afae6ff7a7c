// A C# reader, waiter and writer of a MySharedData segment through the
// generated Segment class (../MySharedData.cs); the interop tests
// (shm-cli/tests/csharp_interop.rs) run it against Rust processes.
// Build: mcs -unsafe -out:client.exe ShmClient.cs ../MySharedData.cs
// Usage (exit 1 with one line on stderr on error; 3 if write access is busy):
//   mono client.exe read NAME             prints value, letter, numbers[10], version
//   mono client.exe wait NAME SINCE MS [--rw]
//                                         prints `waiting`, then `changed V` or `timeout`
//   mono client.exe write NAME VALUE      claims, writes VALUE, 'C', numbers[10] = 2.5,
//                                         prints `written V`, waits for a line on stdin,
//                                         writes VALUE + 1, releases, prints `released`
using System;
using System.Globalization;
using Shm.Schemas;

static class ShmClient
{
    static void Print(MySharedData v, ulong version)
    {
        Console.WriteLine("value=" + v.value);
        Console.WriteLine("letter=" + v.letter);
        unsafe
        {
            Console.WriteLine("numbers[10]=" + v.numbers[10].ToString("F2", CultureInfo.InvariantCulture));
        }
        Console.WriteLine("version=" + version);
    }

    static int Main(string[] args)
    {
        if (args.Length < 2)
        {
            Console.Error.WriteLine("usage: client.exe read|wait|write NAME ...");
            return 2;
        }
        try
        {
            switch (args[0])
            {
                case "read":
                    using (var seg = MySharedData.Segment.Open(args[1]))
                    {
                        ulong version;
                        var v = seg.Read(out version);
                        Print(v, version);
                    }
                    return 0;
                case "wait":
                    {
                        bool rw = args.Length > 4 && args[4] == "--rw";
                        using (var seg = MySharedData.Segment.Open(args[1], rw))
                        {
                            Console.WriteLine("waiting");
                            Console.Out.Flush();
                            ulong? v = seg.WaitForChange(ulong.Parse(args[2]), int.Parse(args[3]));
                            Console.WriteLine(v.HasValue ? "changed " + v.Value : "timeout");
                        }
                        return 0;
                    }
                case "write":
                    {
                        int value = int.Parse(args[2], CultureInfo.InvariantCulture);
                        using (var seg = MySharedData.Segment.Open(args[1], writable: true))
                        {
                            MySharedData.TakeOver took;
                            try { took = seg.Claim(); }
                            catch (MySharedData.ShmException e)
                            {
                                Console.Error.WriteLine(e.Message);
                                return 3;
                            }
                            if (took != null) Console.WriteLine(took);
                            var v = seg.Read();
                            v.value = value;
                            v.letter = 'C';
                            unsafe { v.numbers[10] = 2.5f; }
                            Console.WriteLine("written " + seg.Write(v));
                            Console.Out.Flush();
                            Console.In.ReadLine();
                            v.value = value + 1;
                            seg.Write(v);
                            seg.Release();
                            Console.WriteLine("released");
                        }
                        return 0;
                    }
                default:
                    Console.Error.WriteLine("unknown command");
                    return 2;
            }
        }
        catch (MySharedData.ShmException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
