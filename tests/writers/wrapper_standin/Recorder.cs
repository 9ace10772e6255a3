// The stand-in's record of every call the driver makes, shared by its assemblies.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Web.Script.Serialization;

namespace Visma.BusinessServices.StandIn
{
    public static class Recorder
    {
        static readonly List<Dictionary<string, object>> calls = new List<Dictionary<string, object>>();
        static readonly Dictionary<object, string> labels = new Dictionary<object, string>(new Identity());
        static int next;

        sealed class Identity : IEqualityComparer<object>
        {
            public new bool Equals(object a, object b) { return ReferenceEquals(a, b); }
            public int GetHashCode(object o) { return RuntimeHelpers.GetHashCode(o); }
        }

        public static string Label(object o)
        {
            lock (calls)
            {
                string label;
                if (!labels.TryGetValue(o, out label))
                {
                    label = o.GetType().Name + "#" + (++next).ToString(CultureInfo.InvariantCulture);
                    labels[o] = label;
                }
                return label;
            }
        }

        static object Shown(object value)
        {
            if (value == null) return null;
            if (value is decimal) return "decimal:" + ((decimal)value).ToString(CultureInfo.InvariantCulture);
            if (value is byte[]) return "binary:" + Convert.ToBase64String((byte[])value);
            if (value is Enum) return value.GetType().Name + "." + value.ToString();
            if (value is string || value is long || value is int || value is bool) return value;
            return Label(value);
        }

        public static void Record(object on, string member, object result, params object[] args)
        {
            var shown = new List<object>();
            foreach (var arg in args) shown.Add(Shown(arg));
            var call = new Dictionary<string, object>();
            call["on"] = Label(on);
            call["member"] = member;
            call["args"] = shown;
            call["result"] = result == null ? null : Label(result);
            lock (calls) calls.Add(call);
        }

        // The calls made on `builder` and on everything reached from it, in order, as JSON.
        public static string RequestJson(object builder)
        {
            var reached = new HashSet<string> { Label(builder) };
            var mine = new List<Dictionary<string, object>>();
            lock (calls)
            {
                foreach (var call in calls)
                {
                    if (!reached.Contains((string)call["on"])) continue;
                    mine.Add(call);
                    if (call["result"] != null) reached.Add((string)call["result"]);
                }
            }
            return new JavaScriptSerializer().Serialize(mine);
        }

        // Every call recorded so far, as JSON, and forget them.
        public static string TakeCalls()
        {
            lock (calls)
            {
                var json = new JavaScriptSerializer().Serialize(calls);
                calls.Clear();
                return json;
            }
        }
    }
}
