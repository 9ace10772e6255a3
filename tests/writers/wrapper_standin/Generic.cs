// Visma.BusinessServices.Generic: the WCF proxy of IGenericService (here: its address and credentials only).
using System.ServiceModel;
using System.ServiceModel.Channels;
using System.ServiceModel.Description;

namespace Visma.BusinessServices.Generic
{
    public class GenericServiceClient
    {
        public GenericServiceClient(Binding binding, EndpointAddress remoteAddress)
        {
            Binding = binding;
            Address = remoteAddress;
            ClientCredentials = new ClientCredentials();
        }

        public ClientCredentials ClientCredentials { get; private set; }

        // Not part of the wrapper's surface: what the stand-in's Dispatch reads.
        public Binding Binding { get; private set; }
        public EndpointAddress Address { get; private set; }
    }
}
