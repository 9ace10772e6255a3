"""Every .NET name the wrapper writer calls, in one table, each with how sure redhorn is of it.

Visma's wrapper assemblies are not public; what redhorn knows of them comes from client code that
uses them (the object model in the project's Visma notes, §6.2). A name seen in such code is `C`;
a name redhorn had to choose (no public code shows a delete, or a message's error code) is `G`.
The namespace each type lives in is inferred: the client files import all three namespaces at
once. A real installation whose wrapper differs is fixed here and nowhere else: the driver
(`wrapper.py`) and the startup check (`wrapper_runtime.py`) read only this table.

Members are checked at startup by reflection, each on the type its `on` entry yields (a method's
return type, a property's type), so a wrapper of an unknown version stops startup with the member
it lacks. An `optional` member may be missing: the driver then does without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

# The assemblies loaded from `VismaConnection.VbsAssemblyPath`, in load order (each `<name>.dll`).
ASSEMBLIES = (
    "Visma.BusinessModel",
    "Visma.BusinessServices.Generic",
    "Visma.BusinessServices.Client",
    "Visma.BusinessServices.Wrapper",
)
# WCF's own types, from the runtime (System.ServiceModel.dll).
SERVICE_MODEL_ASSEMBLY = "System.ServiceModel"


@dataclass(frozen=True)
class DotNetName:
    """One type or member: its .NET name, what it is, where it is found, and the confidence.

    `on` names the entry whose type holds a member: a `type` entry, or a member whose result
    (a method's return type, a property's type) is the holder.
    """

    name: str
    kind: Literal["type", "constructor", "method", "property", "enum member"]
    confidence: Literal["C", "G"]
    on: str | None = None
    optional: bool = False
    # How many parameters the method or constructor takes, where an overload is meant.
    arity: int | None = None


def _type(name: str, confidence: Literal["C", "G"] = "C") -> DotNetName:
    return DotNetName(name, "type", confidence)


def _method(
    on: str, name: str, confidence: Literal["C", "G"] = "C", *, optional: bool = False, arity: int | None = None
) -> DotNetName:
    return DotNetName(name, "method", confidence, on, optional, arity)


def _property(on: str, name: str, confidence: Literal["C", "G"] = "C", *, optional: bool = False) -> DotNetName:
    return DotNetName(name, "property", confidence, on, optional)


NAMES: MappingProxyType[str, DotNetName] = MappingProxyType(
    {
        # WCF (System.ServiceModel): the binding of VBS's CustomAuthenticationEndPoint.
        "WSHttpBinding": _type("System.ServiceModel.WSHttpBinding"),
        "EndpointAddress": _type("System.ServiceModel.EndpointAddress"),
        "SecurityMode": _type("System.ServiceModel.SecurityMode"),
        "SecurityMode.Message": DotNetName("Message", "enum member", "C", "SecurityMode"),
        "MessageCredentialType": _type("System.ServiceModel.MessageCredentialType"),
        "MessageCredentialType.UserName": DotNetName("UserName", "enum member", "C", "MessageCredentialType"),
        # WCF's failures, by what they mean for a write.
        "EndpointNotFoundException": _type("System.ServiceModel.EndpointNotFoundException"),
        "ServerTooBusyException": _type("System.ServiceModel.ServerTooBusyException"),
        "MessageSecurityException": _type("System.ServiceModel.Security.MessageSecurityException"),
        "SecurityAccessDeniedException": _type("System.ServiceModel.Security.SecurityAccessDeniedException"),
        "TimeoutException": _type("System.TimeoutException"),
        "CommunicationException": _type("System.ServiceModel.CommunicationException"),
        # The proxy and the integration user's credentials.
        "GenericServiceClient": _type("Visma.BusinessServices.Generic.GenericServiceClient"),
        "GenericServiceClient(binding, address)": DotNetName(
            "GenericServiceClient", "constructor", "C", "GenericServiceClient", arity=2
        ),
        "ClientCredentials": _property("GenericServiceClient", "ClientCredentials"),
        "Credentials": _type("Visma.BusinessServices.Client.Credentials"),
        "Credentials(siteId, user, password)": DotNetName("Credentials", "constructor", "C", "Credentials", arity=3),
        "Credentials.Apply": _method("Credentials", "Apply"),
        # The request.
        "RequestBuilder": _type("Visma.BusinessServices.Wrapper.RequestBuilder"),
        "CultureId": _type("Visma.BusinessServices.Wrapper.CultureId"),
        "ComparisonOperator": _type("Visma.BusinessServices.Wrapper.ComparisonOperator"),
        "ComparisonOperator.EqualTo": DotNetName("EqualTo", "enum member", "C", "ComparisonOperator"),
        "AddContext": _method("RequestBuilder", "AddContext"),
        "Context.CompanyNo": _property("AddContext", "CompanyNo"),
        "Context.CultureId": _property("AddContext", "CultureId"),
        "Context.UserName": _property("AddContext", "UserName"),
        "Context.SiteId": _property("AddContext", "SiteId"),
        "UseTable": _method("AddContext", "UseTable"),
        "AddRow": _method("UseTable", "AddRow"),
        "SetIntegerValue": _method("AddRow", "SetIntegerValue"),
        "SetStringValue": _method("AddRow", "SetStringValue"),
        "SetDecimalValue": _method("AddRow", "SetDecimalValue"),
        "SetBinaryValue": _method("AddRow", "SetBinaryValue"),
        # Clearing a nullable column (an extension's): redhorn's choice of name; without it, "not set" is assigned.
        "SetNullValue": _method("AddRow", "SetNullValue", "G", optional=True),
        "SuggestValue": _method("AddRow", "SuggestValue", arity=1),
        # With the user's interval: the overload taking its bounds is redhorn's choice.
        "SuggestValue(column, from, to)": _method("AddRow", "SuggestValue", "G", arity=3),
        "JoinTable": _method("AddRow", "JoinTable"),
        "Assignment.Operation": _property("SetStringValue", "Operation"),
        "EscalateErrorToOperation": _property("Assignment.Operation", "EscalateErrorToOperation"),
        "SelectRow": _method("UseTable", "SelectRow"),
        "IntegerColumnValue": _method("SelectRow", "IntegerColumnValue"),
        "StringColumnValue": _method("SelectRow", "StringColumnValue"),
        "DecimalColumnValue": _method("SelectRow", "DecimalColumnValue", "G"),
        "SelectRow.Row": _property("SelectRow", "Row"),
        "Delete": _method("SelectRow.Row", "Delete", "G"),
        "ProjectColumns": _method("AddRow", "ProjectColumns"),
        "AddColumn": _method("ProjectColumns", "AddColumn"),
        "Projection.Operation": _property("ProjectColumns", "Operation"),
        "OperationNo": _property("Projection.Operation", "OperationNo"),
        "Dispatch": _method("RequestBuilder", "Dispatch"),
        # The response.
        "AllSucceeded": _property("Dispatch", "AllSucceeded"),
        "Messages": _property("Dispatch", "Messages"),
        "GetOperationsWithErrors": _method("Dispatch", "GetOperationsWithErrors"),
        "OperationResultDictionary": _property("Dispatch", "OperationResultDictionary"),
        "OperationResult.Messages": _property("GetOperationsWithErrors", "Messages"),
        "GetRowsWithErrors": _method("GetOperationsWithErrors", "GetRowsWithErrors"),
        "RowResult.Messages": _property("GetRowsWithErrors", "Messages"),
        "ProjectionResult": _type("Visma.BusinessServices.Wrapper.ProjectionResult"),
        "ResultSet": _property("ProjectionResult", "ResultSet"),
        "ResultRows": _property("ResultSet", "ResultRows"),
        # On each row of `ResultRows` (a member on a collection is looked up on its items' type).
        "GetIntegerValue": _method("ResultRows", "GetIntegerValue"),
        "GetStringValue": _method("ResultRows", "GetStringValue"),
        "GetDecimalValue": _method("ResultRows", "GetDecimalValue"),
        "GetBinaryValue": _method("ResultRows", "GetBinaryValue"),
        "Message.Text": _property("Messages", "Text"),
        "Message.Severity": _property("Messages", "Severity"),
        # Which of redhorn's errors a message is, and the column it is about: redhorn's choice of names;
        # without them every refusal is 502 VbsFailed with VBS's text.
        "Message.Code": _property("Messages", "Code", "G", optional=True),
        "Message.Target": _property("Messages", "Target", "G", optional=True),
    }
)


def dotnet(key: str) -> str:
    """The .NET name of the entry `key`: what the driver passes to `getattr` or looks a type up by."""
    return NAMES[key].name
