// A C# reader and writer of a Robot segment (every schema type: bool,
// enums, char, Utf16, FixedStr, arrays and a nested struct) through the
// generated bindings (`shm codegen --lang csharp Robot`, which the interop
// test generates into its temporary directory).
// Build: mcs -unsafe -out:robot.exe RobotClient.cs Robot.cs
// Usage: mono robot.exe read NAME    prints every field (text as code points)
//        mono robot.exe write NAME   claims, writes a changed value, releases
// Exit 1 with one line on stderr on error.
using System;
using System.Globalization;
using System.Text;
using Shm.Schemas;

static unsafe class RobotClient
{
    // Text as code points, so that the output does not depend on the
    // console's encoding.
    static string Cp(string s)
    {
        var b = new StringBuilder("\"");
        foreach (char c in s)
            b.Append(c >= 0x20 && c < 0x7f ? c.ToString() : "\\u" + ((int)c).ToString("x4"));
        return b.Append('"').ToString();
    }

    static string Joint(Robot.Joint j)
    {
        return "position=" + j.position.ToString("F2", CultureInfo.InvariantCulture)
            + " mode=" + j.mode + " enabled=" + j.enabled + " axis=" + j.axis
            + " name=" + Cp(j.name.Get());
    }

    static int Main(string[] args)
    {
        if (args.Length != 2) { Console.Error.WriteLine("usage: robot.exe read|write NAME"); return 2; }
        try
        {
            using (var seg = Robot.Segment.Open(args[1], args[0] == "write"))
            {
                if (args[0] == "write")
                {
                    seg.Claim();
                    var r = seg.Read();
                    r.seq = 43;
                    r.initial = 0x1F600; // U+1F600, outside the BMP
                    r.letter = 'Z';
                    r.armed = false;
                    r.mode = Robot.Mode.Fault;
                    r.label.Set("right-ärm");
                    r.flags[0] = false;
                    r.flags[3] = false;
                    r.joints_1.mode = Robot.Mode.Idle;
                    r.joints_1.axis = Robot.Axis.Minus;
                    r.joints_1.name.Set("knee");
                    r.names_1 = Robot.FixedStr6.From("€uro");
                    // Values C# allows but the schema does not are refused.
                    var bad = r;
                    bad.mode = (Robot.Mode)3;
                    try { seg.Write(bad); Console.Error.WriteLine("wrote a bad enum"); return 1; }
                    catch (ArgumentException e) { Console.WriteLine("refused: " + e.Message.Split('\n')[0].Split(new[] { "\r" }, StringSplitOptions.None)[0]); }
                    try { r.names_0.Set("toolong!"); Console.Error.WriteLine("stored a long string"); return 1; }
                    catch (ArgumentException) { Console.WriteLine("refused: a string over capacity"); }
                    Console.WriteLine("written " + seg.Write(r));
                    seg.Release();
                    return 0;
                }
                var v = seg.Read();
                Console.WriteLine("seq=" + v.seq);
                Console.WriteLine("initial=0x" + v.initial.ToString("x"));
                Console.WriteLine("letter=" + v.letter);
                Console.WriteLine("armed=" + v.armed);
                Console.WriteLine("mode=" + v.mode);
                Console.WriteLine("label=" + Cp(v.label.Get()));
                Console.WriteLine("flags=" + v.flags[0] + "," + v.flags[1] + "," + v.flags[2] + "," + v.flags[3]);
                Console.WriteLine("joints[0]: " + Joint(v.joints_0));
                Console.WriteLine("joints[1]: " + Joint(v.joints_1));
                Console.WriteLine("joints[2]: " + Joint(v.joints_2));
                Console.WriteLine("names=" + Cp(v.names_0.Get()) + "," + Cp(v.names_1.Get()));
                return 0;
            }
        }
        catch (Robot.ShmException e)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
