// Visma.BusinessServices.Wrapper: the request builder and the response reader, with the members redhorn's
// driver calls (redhorn/writers/wrapper_names.py). Each call is recorded; Dispatch sends the record of its
// request as JSON to the client's endpoint address, where the tests' VBS stand-in service runs it, and reads
// the answer into the response object model. Built with -define:OLD_WRAPPER, it lacks a member the driver
// needs, as a wrapper of a version redhorn does not know would.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Net;
using System.ServiceModel;
using System.ServiceModel.Security;
using System.Text;
using System.Web.Script.Serialization;
using Visma.BusinessServices.Generic;
using Visma.BusinessServices.StandIn;

namespace Visma.BusinessServices.Wrapper
{
    public enum CultureId { English__UnitedKingdom, English__UnitedStates, Norwegian__Norway, Swedish__Sweden, Danish__Denmark }

    public enum ComparisonOperator { EqualTo, NotEqualTo, GreaterThan, LessThan }

    public enum MessageSeverity { Information, Warning, Error }

    public class Operation
    {
        public Operation(long operationNo) { OperationNo = operationNo; }

        public long OperationNo { get; private set; }

#if !OLD_WRAPPER
        Row escalateTo;
        public Row EscalateErrorToOperation
        {
            get { return escalateTo; }
            set { escalateTo = value; Recorder.Record(this, "EscalateErrorToOperation", null, value); }
        }
#endif
    }

    public class RequestBuilder
    {
        long operations;
        internal readonly List<Projection> Projections = new List<Projection>();

        internal Operation NewOperation() { return new Operation(++operations); }

        public Context AddContext()
        {
            var context = new Context(this);
            Recorder.Record(this, "AddContext", context);
            return context;
        }

        public ResponseReader Dispatch(GenericServiceClient client)
        {
            Recorder.Record(this, "Dispatch", null, client);
            var answer = Send(client, Recorder.RequestJson(this));
            return new ResponseReader(answer, Projections);
        }

        static Dictionary<string, object> Send(GenericServiceClient client, string json)
        {
            var uri = client.Address.Uri;
            var request = (HttpWebRequest)WebRequest.Create(uri);
            request.Method = "POST";
            request.ContentType = "application/json";
            request.Timeout = (int)client.Binding.SendTimeout.TotalMilliseconds;
            request.ReadWriteTimeout = request.Timeout;
            var user = client.ClientCredentials.UserName;
            var basic = Convert.ToBase64String(Encoding.UTF8.GetBytes(user.UserName + ":" + user.Password));
            request.Headers["Authorization"] = "Basic " + basic;
            var body = Encoding.UTF8.GetBytes(json);
            try
            {
                using (var stream = request.GetRequestStream()) stream.Write(body, 0, body.Length);
                using (var response = (HttpWebResponse)request.GetResponse())
                using (var reader = new StreamReader(response.GetResponseStream(), Encoding.UTF8))
                    return (Dictionary<string, object>)new JavaScriptSerializer().DeserializeObject(reader.ReadToEnd());
            }
            catch (WebException exc)
            {
                if (exc.Status == WebExceptionStatus.Timeout)
                    throw new TimeoutException("The request channel timed out while waiting for a reply after " + request.Timeout + " ms", exc);
                var failed = exc.Response as HttpWebResponse;
                if (failed == null)
                    throw new EndpointNotFoundException("There was no endpoint listening at " + uri + " that could accept the message.", exc);
                string text;
                using (var reader = new StreamReader(failed.GetResponseStream(), Encoding.UTF8)) text = reader.ReadToEnd();
                if (failed.StatusCode == HttpStatusCode.Unauthorized)
                    throw new MessageSecurityException(
                        "An unsecured or incorrectly secured fault was received from the other party.",
                        new FaultException("An error occurred when verifying security for the message."));
                throw new FaultException(text);
            }
        }
    }

    public class Context
    {
        readonly RequestBuilder builder;
        int companyNo;
        CultureId cultureId;
        string userName, siteId;

        internal Context(RequestBuilder builder) { this.builder = builder; }

        public int CompanyNo { get { return companyNo; } set { companyNo = value; Recorder.Record(this, "CompanyNo", null, value); } }
        public CultureId CultureId { get { return cultureId; } set { cultureId = value; Recorder.Record(this, "CultureId", null, value); } }
        public string UserName { get { return userName; } set { userName = value; Recorder.Record(this, "UserName", null, value); } }
        public string SiteId { get { return siteId; } set { siteId = value; Recorder.Record(this, "SiteId", null, value); } }

        public TableUsage UseTable(long tableNo)
        {
            var table = new TableUsage(builder);
            Recorder.Record(this, "UseTable", table, tableNo);
            return table;
        }
    }

    public class TableUsage
    {
        readonly RequestBuilder builder;

        internal TableUsage(RequestBuilder builder) { this.builder = builder; }

        public Row AddRow()
        {
            var row = new Row(builder);
            Recorder.Record(this, "AddRow", row);
            return row;
        }

        public RowSelection SelectRow()
        {
            var selection = new RowSelection(builder);
            Recorder.Record(this, "SelectRow", selection);
            return selection;
        }
    }

    public class RowSelection
    {
        readonly Row row;

        internal RowSelection(RequestBuilder builder) { row = new Row(builder); }

        public Row Row { get { Recorder.Record(this, "Row", row); return row; } }

        public void IntegerColumnValue(long columnNo, ComparisonOperator comparison, long value) { Recorder.Record(this, "IntegerColumnValue", null, columnNo, comparison, value); }
        public void StringColumnValue(long columnNo, ComparisonOperator comparison, string value) { Recorder.Record(this, "StringColumnValue", null, columnNo, comparison, value); }
        public void DecimalColumnValue(long columnNo, ComparisonOperator comparison, decimal value) { Recorder.Record(this, "DecimalColumnValue", null, columnNo, comparison, value); }
    }

    public class Assignment
    {
        public Assignment(Operation operation) { Operation = operation; }

        public Operation Operation { get; private set; }
    }

    public class Row
    {
        readonly RequestBuilder builder;

        internal Row(RequestBuilder builder) { this.builder = builder; }

        Assignment Assign(string member, params object[] args)
        {
            var assignment = new Assignment(builder.NewOperation());
            Recorder.Record(this, member, assignment, args);
            return assignment;
        }

        public Assignment SetIntegerValue(long columnNo, long value) { return Assign("SetIntegerValue", columnNo, value); }
        public Assignment SetStringValue(long columnNo, string value) { return Assign("SetStringValue", columnNo, value); }
        public Assignment SetDecimalValue(long columnNo, decimal value) { return Assign("SetDecimalValue", columnNo, value); }
        public Assignment SetBinaryValue(long columnNo, byte[] value) { return Assign("SetBinaryValue", columnNo, value); }
        public Assignment SetNullValue(long columnNo) { return Assign("SetNullValue", columnNo); }
        public Assignment SuggestValue(long columnNo) { return Assign("SuggestValue", columnNo); }
        public Assignment SuggestValue(long columnNo, long intervalFrom, long intervalTo) { return Assign("SuggestValue", columnNo, intervalFrom, intervalTo); }

        public TableUsage JoinTable(long foreignKeyNo)
        {
            var lines = new TableUsage(builder);
            Recorder.Record(this, "JoinTable", lines, foreignKeyNo);
            return lines;
        }

        public void Delete() { Recorder.Record(this, "Delete", null); }

        public Projection ProjectColumns()
        {
            var projection = new Projection(builder.NewOperation());
            builder.Projections.Add(projection);
            Recorder.Record(this, "ProjectColumns", projection);
            return projection;
        }
    }

    public class Projection
    {
        internal Projection(Operation operation) { Operation = operation; }

        public Operation Operation { get; private set; }

        public void AddColumn(long columnNo) { Recorder.Record(this, "AddColumn", null, columnNo); }
    }

    public class Message
    {
        internal Message(Dictionary<string, object> m)
        {
            Text = (string)m["text"];
            var severity = (string)m["severity"];
            Severity = severity == "error" ? MessageSeverity.Error : severity == "warning" ? MessageSeverity.Warning : MessageSeverity.Information;
            Code = m.ContainsKey("code") ? (string)m["code"] : null;
            Target = m.ContainsKey("target") ? (string)m["target"] : null;
        }

        public string Text { get; private set; }
        public MessageSeverity Severity { get; private set; }
        public string Code { get; private set; }
        public string Target { get; private set; }
    }

    public class RowResult
    {
        public RowResult(List<Message> messages) { Messages = messages; }

        public List<Message> Messages { get; private set; }
    }

    public class OperationResult
    {
        public OperationResult(long operationNo, List<Message> messages) { OperationNo = operationNo; Messages = messages; }

        public long OperationNo { get; private set; }
        public List<Message> Messages { get; private set; }

        public List<RowResult> GetRowsWithErrors() { return new List<RowResult>(); }
    }

    public class ResultRow
    {
        readonly Dictionary<string, object> values;

        internal ResultRow(Dictionary<string, object> values) { this.values = values; }

        object Value(long columnNo)
        {
            object value;
            if (!values.TryGetValue(columnNo.ToString(CultureInfo.InvariantCulture), out value))
                throw new KeyNotFoundException("Column " + columnNo + " was not projected");
            return value;
        }

        public long GetIntegerValue(long columnNo) { return Convert.ToInt64(Value(columnNo), CultureInfo.InvariantCulture); }
        public string GetStringValue(long columnNo) { return Convert.ToString(Value(columnNo), CultureInfo.InvariantCulture); }
        public decimal GetDecimalValue(long columnNo) { return Convert.ToDecimal(Value(columnNo), CultureInfo.InvariantCulture); }
        public byte[] GetBinaryValue(long columnNo) { return Convert.FromBase64String((string)Value(columnNo)); }
    }

    public class ResultSet
    {
        public ResultSet(List<ResultRow> rows) { ResultRows = rows; }

        public List<ResultRow> ResultRows { get; private set; }
    }

    public class ProjectionResult : OperationResult
    {
        public ProjectionResult(long operationNo, ResultSet resultSet) : base(operationNo, new List<Message>()) { ResultSet = resultSet; }

        public ResultSet ResultSet { get; private set; }
    }

    public class ResponseReader
    {
        readonly List<OperationResult> failed = new List<OperationResult>();

        internal ResponseReader(Dictionary<string, object> answer, List<Projection> projections)
        {
            Messages = new List<Message>();
            var errors = new List<Message>();
            foreach (var m in (object[])answer["messages"])
            {
                var message = new Message((Dictionary<string, object>)m);
                if (message.Severity == MessageSeverity.Error) errors.Add(message); else Messages.Add(message);
            }
            if (errors.Count > 0) failed.Add(new OperationResult(1, errors));
            OperationResultDictionary = new Dictionary<long, OperationResult>();
            var results = (object[])answer["projections"];
            for (var i = 0; i < results.Length && i < projections.Count; i++)
            {
                var rows = new List<ResultRow>();
                foreach (var row in (object[])results[i]) rows.Add(new ResultRow((Dictionary<string, object>)row));
                var number = projections[i].Operation.OperationNo;
                OperationResultDictionary[number] = new ProjectionResult(number, new ResultSet(rows));
            }
        }

        public bool AllSucceeded { get { return failed.Count == 0; } }
        public List<Message> Messages { get; private set; }
        public Dictionary<long, OperationResult> OperationResultDictionary { get; private set; }

        public List<OperationResult> GetOperationsWithErrors() { return failed; }
    }
}
